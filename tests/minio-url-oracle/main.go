// minio-url-oracle: how MinIO takes a KES endpoint's host, for kesgate's
// tests. Not shipped. Built with CGO_ENABLED=0, as MinIO's releases are:
// Go's own resolver.
//
// MinIO builds each request URL by concatenation (endpoint + "/v1/..."),
// parses it with net/url, and dials u.Hostname(): an IP literal as
// net.ParseIP takes it (strict dotted quad, or IPv6), anything else a name
// for the resolver.
//
// Reads one endpoint per line on stdin; prints per line one of
//
//	ip <address>      Go dials this address
//	name <hex>        Go looks up this name (its bytes, hex)
//	error <message>   Go refuses the URL
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		endpoint := in.Text()
		u, err := url.Parse(endpoint + "/v1/key/generate/minio-default")
		if err != nil {
			fmt.Printf("error %v\n", err)
			continue
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); ip != nil {
			fmt.Printf("ip %s\n", ip.String())
			continue
		}
		fmt.Printf("name %s\n", hex.EncodeToString([]byte(host)))
	}
}
