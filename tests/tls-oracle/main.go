// tls-oracle: what MinIO's KES client would decide, for kesgate's
// differential TLS test (tests/net/tls_trust.rs). Go's own crypto/tls and
// crypto/x509 decide; the pool is built with minio/pkg certs.GetRootCAs'
// rules (system roots plus a CA file or every readable file of a directory).
//
//	tls-oracle gen DIR      write the certificate shapes (DIR/<shape>/…)
//	tls-oracle serve DIR    serve every shape on 127.0.0.1, print "shape port"
//	tls-oracle check ADDR SERVERNAME CAPATH
//	                        one handshake as MinIO would: prints "accept" or
//	                        "reject: <Go's error>"
package main

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fail("usage: tls-oracle gen|serve DIR, or check ADDR SERVERNAME CAPATH")
	}
	switch os.Args[1] {
	case "gen":
		gen(os.Args[2])
	case "serve":
		serve(os.Args[2])
	case "check":
		if len(os.Args) != 5 {
			fail("usage: tls-oracle check ADDR SERVERNAME CAPATH")
		}
		check(os.Args[2], os.Args[3], os.Args[4])
	default:
		fail("unknown mode " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "tls-oracle:", msg)
	os.Exit(2)
}

func must[T any](v T, err error) T {
	if err != nil {
		fail(err.Error())
	}
	return v
}

// ---- MinIO's trust: minio/pkg certs.GetRootCAs ----

func getRootCAs(path string) (*x509.CertPool, error) {
	rootCAs, _ := x509.SystemCertPool()
	if rootCAs == nil {
		rootCAs = x509.NewCertPool()
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		return rootCAs, nil
	}
	if err != nil {
		return rootCAs, err
	}
	defer f.Close()
	stat, err := f.Stat()
	if err != nil {
		return rootCAs, err
	}
	if !stat.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return rootCAs, err
		}
		if !rootCAs.AppendCertsFromPEM(b) {
			return rootCAs, fmt.Errorf("cert: %q does not contain a valid X.509 PEM-encoded certificate", path)
		}
		return rootCAs, nil
	}
	names, err := f.Readdirnames(0)
	if err != nil {
		return rootCAs, err
	}
	for _, n := range names {
		if b, err := os.ReadFile(filepath.Join(path, n)); err == nil {
			rootCAs.AppendCertsFromPEM(b)
		}
	}
	return rootCAs, nil
}

// check dials like kms-go: TLS 1.2 minimum, the pool above, a self-signed
// Ed25519 client certificate handed over whatever the server asks.
func check(addr, serverName, capath string) {
	pool, err := getRootCAs(capath)
	if err != nil {
		fmt.Println("reject: MinIO does not start:", err)
		return
	}
	client := clientCert()
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &client, nil
		},
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		fmt.Println("reject:", err)
		return
	}
	conn.Close()
	fmt.Println("accept")
}

func clientCert() tls.Certificate {
	_, key := must2(ed25519.GenerateKey(rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "minio"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		fail(err.Error())
	}
	return a, b
}

// ---- serving the shapes ----

func serve(dir string) {
	shapes := must(os.ReadDir(dir))
	var names []string
	for _, s := range shapes {
		if s.IsDir() {
			names = append(names, s.Name())
		}
	}
	sort.Strings(names)
	out := bufio.NewWriter(os.Stdout)
	for _, name := range names {
		chainPEM := must(os.ReadFile(filepath.Join(dir, name, "chain.pem")))
		keyPEM := must(os.ReadFile(filepath.Join(dir, name, "key.pem")))
		cert := must(tls.X509KeyPair(chainPEM, keyPEM))
		ln := must(net.Listen("tcp", "127.0.0.1:0"))
		tl := tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{cert},
			// KES 2024+: any client certificate, not verified.
			ClientAuth: tls.RequireAnyClientCert,
		})
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/v1/ready":
				w.WriteHeader(http.StatusOK)
			case strings.HasPrefix(r.URL.Path, "/v1/key/describe/"):
				// KES 2024+ for a key that does not exist.
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, "{\"message\":\"key does not exist\"\n}")
			default:
				http.NotFound(w, r)
			}
		}), ErrorLog: log.New(io.Discard, "", 0)}
		go srv.Serve(tl)
		fmt.Fprintf(out, "%s %d\n", name, ln.Addr().(*net.TCPAddr).Port)
	}
	fmt.Fprintln(out, "ready")
	out.Flush()
	// Serve until stdin closes (the test ends).
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// ---- the shapes ----

type issuer struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type spec struct {
	key         crypto.Signer
	cn          string
	dns         []string
	ips         []net.IP
	ca          bool
	noBC        bool
	maxPathLen  int // -1: unset
	ku          x509.KeyUsage
	eku         []x509.ExtKeyUsage
	notBefore   time.Time
	notAfter    time.Time
	permitted   []string
	extraCrit   bool
	noSubjectID bool
}

func ecKey(c elliptic.Curve) crypto.Signer { return must(ecdsa.GenerateKey(c, rand.Reader)) }
func rsaKey(bits int) crypto.Signer      { return must(rsa.GenerateKey(rand.Reader, bits)) }
func edKey() crypto.Signer {
	_, k := must2(ed25519.GenerateKey(rand.Reader))
	return k
}

var serial int64 = 100

func (s spec) make(parent *issuer) *issuer {
	serial++
	now := time.Now()
	t := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: s.cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		DNSNames:              s.dns,
		IPAddresses:           s.ips,
		IsCA:                  s.ca,
		BasicConstraintsValid: !s.noBC,
		KeyUsage:              s.ku,
		ExtKeyUsage:           s.eku,
		PermittedDNSDomains:   s.permitted,
	}
	if s.maxPathLen >= 0 {
		t.MaxPathLen = s.maxPathLen
		t.MaxPathLenZero = s.maxPathLen == 0
	} else {
		t.MaxPathLen = -1
	}
	if !s.notBefore.IsZero() {
		t.NotBefore = s.notBefore
	}
	if !s.notAfter.IsZero() {
		t.NotAfter = s.notAfter
	}
	if s.extraCrit {
		t.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{5, 0}}}
	}
	signer, signerCert := s.key, t
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der := must(x509.CreateCertificate(rand.Reader, t, signerCert, s.key.Public(), signer))
	return &issuer{cert: must(x509.ParseCertificate(der)), key: s.key}
}

func caSpec(cn string, key crypto.Signer) spec {
	return spec{key: key, cn: cn, ca: true, maxPathLen: -1, ku: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
}

func leafSpec(key crypto.Signer) spec {
	return spec{key: key, cn: "kes", dns: []string{"localhost"}, ips: []net.IP{net.ParseIP("127.0.0.1")},
		maxPathLen: -1, ku: x509.KeyUsageDigitalSignature, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
}

func pemOf(certs ...*issuer) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})...)
	}
	return b
}

// shape writes DIR/name: chain.pem (what the server sends), key.pem, the
// CA path ("ca" file or directory), and host (the name to dial).
func shape(dir, name, host string, leaf *issuer, sent []*issuer, ca []byte) string {
	d := filepath.Join(dir, name)
	must(0, os.MkdirAll(d, 0o755))
	chain := append([]*issuer{leaf}, sent...)
	write(filepath.Join(d, "chain.pem"), pemOf(chain...))
	write(filepath.Join(d, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(leaf.key))}))
	write(filepath.Join(d, "host"), []byte(host))
	if ca != nil {
		write(filepath.Join(d, "ca"), ca)
	}
	return d
}

func write(path string, b []byte) {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		fail(err.Error())
	}
}

func gen(dir string) {
	root := caSpec("Root CA", ecKey(elliptic.P256())).make(nil)
	good := leafSpec(ecKey(elliptic.P256()))
	leaf := good.make(root)
	rootPEM := pemOf(root)

	// As `kes identity new` makes a server certificate: self-signed, no CA.
	s := leafSpec(edKey())
	s.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	self := s.make(nil)
	shape(dir, "kes-identity-new", "localhost", self, nil, pemOf(self))
	// 2023-02's: an IP SAN only and a clientAuth-only extended key usage.
	s = leafSpec(edKey())
	s.dns = nil
	s.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	self = s.make(nil)
	shape(dir, "kes-identity-new-2023-02", "127.0.0.1", self, nil, pemOf(self))
	// openssl req -x509's default: self-signed with CA:TRUE.
	s = leafSpec(rsaKey(2048))
	s.ca, s.eku, s.ku = true, nil, 0
	self = s.make(nil)
	shape(dir, "self-signed-ca-true", "localhost", self, nil, pemOf(self))
	shape(dir, "ca-signed", "localhost", leaf, nil, rootPEM)
	shape(dir, "ca-signed-dial-ip", "127.0.0.1", leaf, nil, rootPEM)
	shape(dir, "ca-not-in-pool", "localhost", leaf, nil, pemOf(caSpec("Other CA", ecKey(elliptic.P256())).make(nil)))
	shape(dir, "leaf-itself-in-pool", "localhost", leaf, nil, pemOf(leaf))

	inter := caSpec("Intermediate CA", ecKey(elliptic.P256())).make(root)
	viaInter := leafSpec(ecKey(elliptic.P256())).make(inter)
	shape(dir, "chain-intermediate-sent", "localhost", viaInter, []*issuer{inter}, rootPEM)
	shape(dir, "chain-intermediate-missing", "localhost", viaInter, nil, rootPEM)
	shape(dir, "intermediate-as-anchor", "localhost", viaInter, nil, pemOf(inter))
	shape(dir, "root-and-intermediate-bundle", "localhost", viaInter, nil, pemOf(root, inter))

	s = leafSpec(ecKey(elliptic.P256()))
	s.dns, s.ips = []string{"kes.example.net"}, nil
	shape(dir, "wrong-name", "localhost", s.make(root), nil, rootPEM)
	s = leafSpec(ecKey(elliptic.P256()))
	s.dns = nil
	shape(dir, "ip-san-only-dial-ip", "127.0.0.1", s.make(root), nil, rootPEM)
	shape(dir, "ip-san-only-dial-name", "localhost", s.make(root), nil, rootPEM)
	s = leafSpec(ecKey(elliptic.P256()))
	s.dns, s.ips = []string{"127.0.0.1"}, nil
	shape(dir, "ip-as-dns-san", "127.0.0.1", s.make(root), nil, rootPEM)
	s = leafSpec(ecKey(elliptic.P256()))
	s.cn, s.dns, s.ips = "localhost", nil, nil
	shape(dir, "cn-only", "localhost", s.make(root), nil, rootPEM)

	s = leafSpec(ecKey(elliptic.P256()))
	s.notBefore, s.notAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	shape(dir, "expired", "localhost", s.make(root), nil, rootPEM)
	s = leafSpec(ecKey(elliptic.P256()))
	s.notBefore, s.notAfter = time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour)
	shape(dir, "not-yet-valid", "localhost", s.make(root), nil, rootPEM)

	s = leafSpec(ecKey(elliptic.P256()))
	s.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	shape(dir, "eku-client-auth-only", "localhost", s.make(root), nil, rootPEM)
	s = leafSpec(ecKey(elliptic.P256()))
	s.eku = nil
	shape(dir, "no-eku", "localhost", s.make(root), nil, rootPEM)
	s = leafSpec(ecKey(elliptic.P256()))
	s.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	shape(dir, "eku-any", "localhost", s.make(root), nil, rootPEM)

	rsaRoot := caSpec("RSA Root", rsaKey(2048)).make(nil)
	shape(dir, "rsa-1024", "localhost", leafSpec(rsaKey(1024)).make(rsaRoot), nil, pemOf(rsaRoot))
	shape(dir, "rsa-2048", "localhost", leafSpec(rsaKey(2048)).make(rsaRoot), nil, pemOf(rsaRoot))
	rsa1024Root := caSpec("RSA 1024 Root", rsaKey(1024)).make(nil)
	shape(dir, "rsa-1024-root", "localhost", leafSpec(ecKey(elliptic.P256())).make(rsa1024Root), nil, pemOf(rsa1024Root))
	shape(dir, "ecdsa-p256", "localhost", leafSpec(ecKey(elliptic.P256())).make(root), nil, rootPEM)
	p384Root := caSpec("P-384 Root", ecKey(elliptic.P384())).make(nil)
	shape(dir, "ecdsa-p384", "localhost", leafSpec(ecKey(elliptic.P384())).make(p384Root), nil, pemOf(p384Root))
	edRoot := caSpec("Ed25519 Root", edKey()).make(nil)
	shape(dir, "ed25519", "localhost", leafSpec(edKey()).make(edRoot), nil, pemOf(edRoot))

	// A bundle of unrelated CAs with the right one in the middle.
	bundle := append(pemOf(caSpec("A", ecKey(elliptic.P256())).make(nil)), rootPEM...)
	bundle = append(bundle, pemOf(rsaRoot)...)
	shape(dir, "ca-bundle", "localhost", leaf, nil, bundle)
	// openssl x509 -text style: text around the PEM block.
	shape(dir, "pem-with-text", "localhost", leaf, nil,
		[]byte("Certificate:\n    Data:\n        Version: 3 (0x2)\nsubject=CN = Root CA\n"+string(rootPEM)+"trailing notes\n"))
	// A CA directory with junk beside the CA.
	d := shape(dir, "ca-directory-with-junk", "localhost", leaf, nil, nil)
	cas := filepath.Join(d, "ca")
	must(0, os.MkdirAll(filepath.Join(cas, "subdir"), 0o755))
	write(filepath.Join(cas, "00-empty"), nil)
	write(filepath.Join(cas, "01-binary"), []byte{0, 1, 2, 0xff, 0xfe})
	write(filepath.Join(cas, "02-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}))
	write(filepath.Join(cas, "03-broken.pem"), []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"))
	write(filepath.Join(cas, "10-root.crt"), rootPEM)
	write(filepath.Join(cas, "README"), []byte("CAs for KES\n"))
	// A file with no certificate: MinIO refuses to start.
	shape(dir, "ca-file-without-pem", "localhost", leaf, nil, []byte("no certificate here\n"))

	// Parents Go refuses to chain through.
	s = caSpec("Expired Root", ecKey(elliptic.P256()))
	s.notBefore, s.notAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	expiredRoot := s.make(nil)
	shape(dir, "root-expired", "localhost", leafSpec(ecKey(elliptic.P256())).make(expiredRoot), nil, pemOf(expiredRoot))
	s = caSpec("No certSign Root", ecKey(elliptic.P256()))
	s.ku = x509.KeyUsageDigitalSignature
	kuRoot := s.make(nil)
	shape(dir, "root-without-cert-sign", "localhost", leafSpec(ecKey(elliptic.P256())).make(kuRoot), nil, pemOf(kuRoot))
	s = caSpec("Not a CA", ecKey(elliptic.P256()))
	s.ca = false
	notCA := s.make(root)
	shape(dir, "intermediate-not-ca", "localhost", leafSpec(ecKey(elliptic.P256())).make(notCA), []*issuer{notCA}, rootPEM)
	s = caSpec("Path Length 0 Root", ecKey(elliptic.P256()))
	s.maxPathLen = 0
	plRoot := s.make(nil)
	plInter := caSpec("Intermediate below pathlen 0", ecKey(elliptic.P256())).make(plRoot)
	shape(dir, "path-length-exceeded", "localhost", leafSpec(ecKey(elliptic.P256())).make(plInter), []*issuer{plInter}, pemOf(plRoot))
	s = caSpec("Constrained Root", ecKey(elliptic.P256()))
	s.permitted = []string{"example.net"}
	ncRoot := s.make(nil)
	shape(dir, "name-constraint-violated", "localhost", leafSpec(ecKey(elliptic.P256())).make(ncRoot), nil, pemOf(ncRoot))
	s = caSpec("Localhost Root", ecKey(elliptic.P256()))
	s.permitted = []string{"localhost"}
	okRoot := s.make(nil)
	s = leafSpec(ecKey(elliptic.P256()))
	s.ips = nil
	shape(dir, "name-constraint-met", "localhost", s.make(okRoot), nil, pemOf(okRoot))
	s = leafSpec(ecKey(elliptic.P256()))
	s.extraCrit = true
	shape(dir, "unknown-critical-extension", "localhost", s.make(root), nil, rootPEM)
	// A leaf that is itself a CA, chained to the root: Go does not mind.
	s = leafSpec(ecKey(elliptic.P256()))
	s.ca = true
	shape(dir, "leaf-with-ca-true", "localhost", s.make(root), nil, rootPEM)
	// A self-signed certificate in the pool whose key usage lacks certSign
	// and whose basic constraints say CA:FALSE: trusted as itself.
	s = leafSpec(ecKey(elliptic.P256()))
	self = s.make(nil)
	shape(dir, "self-signed-ca-false", "localhost", self, nil, pemOf(self))
	fmt.Println("generated")
}
