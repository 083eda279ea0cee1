// minio-env-oracle: MinIO's environment as MinIO and systemd make it, for
// kesgate's tests. Not shipped.
//
//	minio-env-oracle minio FILE          MinIO's reader alone (cmd/common-main.go
//	                                     minioEnvironFromFile, parsEnvEntry)
//	minio-env-oracle view SYSTEMD WORKDIR systemd's EnvironmentFile= (systemd 252,
//	                                     src/basic/env-file.c), then
//	                                     MINIO_CONFIG_ENV_FILE from WORKDIR over it
//
// Prints "KEY=HEXVALUE" lines, sorted, or one "error: …" line.
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// ---- MinIO (cmd/common-main.go), as released ----

type envKV struct {
	Key   string
	Value string
	Skip  bool
}

func parsEnvEntry(envEntry string) (envKV, error) {
	envEntry = strings.TrimSpace(envEntry)
	if envEntry == "" {
		// Skip all empty lines
		return envKV{Skip: true}, nil
	}
	if strings.HasPrefix(envEntry, "#") {
		// Skip commented lines
		return envKV{Skip: true}, nil
	}
	envTokens := strings.SplitN(strings.TrimSpace(strings.TrimPrefix(envEntry, "export")), "=", 2)
	if len(envTokens) != 2 {
		return envKV{}, fmt.Errorf("envEntry malformed; %s, expected to be of form 'KEY=value'", envEntry)
	}
	key := envTokens[0]
	val := envTokens[1]
	// Remove quotes from the value if found
	if len(val) >= 2 {
		quote := val[0]
		if (quote == '"' || quote == '\'') && val[len(val)-1] == quote {
			val = val[1 : len(val)-1]
		}
	}
	return envKV{Key: key, Value: val}, nil
}

func minioEnvironFromFile(envConfigFile string) ([]envKV, error) {
	f, err := os.Open(envConfigFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ekvs []envKV
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		ekv, err := parsEnvEntry(scanner.Text())
		if err != nil {
			return nil, err
		}
		if ekv.Skip {
			// Skips empty lines
			continue
		}
		ekvs = append(ekvs, ekv)
	}
	if err = scanner.Err(); err != nil {
		return nil, err
	}
	return ekvs, nil
}

// ---- systemd 252 (src/basic/env-file.c, env-util.c) ----

const (
	preKey = iota
	key
	preValue
	value
	valueEscape
	singleQuote
	doubleQuote
	doubleQuoteEscape
	comment
	commentEscape
)

func in(c byte, set string) bool { return strings.IndexByte(set, c) >= 0 }

func systemdPairs(b []byte) [][2]string {
	const newline, whitespace, comments, shellNeedEscape = "\n\r", " \t\n\r", "#;", "\"\\`$"
	var pairs [][2]string
	state := preKey
	var k, v []byte
	lastKeyWS, lastValueWS := -1, -1
	push := func() {
		if lastKeyWS >= 0 {
			k = k[:lastKeyWS]
		}
		pairs = append(pairs, [2]string{string(k), string(v)})
		k, v = nil, nil
	}
	for _, c := range b {
		switch state {
		case preKey:
			if in(c, comments) {
				state = comment
			} else if !in(c, whitespace) {
				state = key
				lastKeyWS = -1
				k = append(k, c)
			}
		case key:
			if in(c, newline) {
				state = preKey
				k = nil
			} else if c == '=' {
				state = preValue
				lastValueWS = -1
			} else {
				if !in(c, whitespace) {
					lastKeyWS = -1
				} else if lastKeyWS < 0 {
					lastKeyWS = len(k)
				}
				k = append(k, c)
			}
		case preValue:
			if in(c, newline) {
				state = preKey
				push()
			} else if c == '\'' {
				state = singleQuote
			} else if c == '"' {
				state = doubleQuote
			} else if c == '\\' {
				state = valueEscape
			} else if !in(c, whitespace) {
				state = value
				v = append(v, c)
			}
		case value:
			if in(c, newline) {
				state = preKey
				if lastValueWS >= 0 {
					v = v[:lastValueWS]
				}
				push()
			} else if c == '\\' {
				state = valueEscape
				lastValueWS = -1
			} else {
				if !in(c, whitespace) {
					lastValueWS = -1
				} else if lastValueWS < 0 {
					lastValueWS = len(v)
				}
				v = append(v, c)
			}
		case valueEscape:
			state = value
			if !in(c, newline) {
				v = append(v, c)
			}
		case singleQuote:
			if c == '\'' {
				state = preValue
			} else {
				v = append(v, c)
			}
		case doubleQuote:
			if c == '"' {
				state = preValue
			} else if c == '\\' {
				state = doubleQuoteEscape
			} else {
				v = append(v, c)
			}
		case doubleQuoteEscape:
			state = doubleQuote
			if in(c, shellNeedEscape) {
				v = append(v, c)
			} else if c != '\n' {
				v = append(v, '\\', c)
			}
		case comment:
			if c == '\\' {
				state = commentEscape
			} else if in(c, newline) {
				state = preKey
			}
		case commentEscape:
			state = comment
		}
	}
	switch state {
	case preValue, value, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape:
		if state == value && lastValueWS >= 0 {
			v = v[:lastValueWS]
		}
		push()
	}
	return pairs
}

func validName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return true
}

func validValue(v string) bool {
	if !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f {
			return false
		}
	}
	return true
}

// The assignments systemd applies from an EnvironmentFile= (the last wins).
func systemdEnv(path string, env map[string]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, p := range systemdPairs(b) {
		if !utf8.ValidString(p[0]) || !validName(p[0]) || !validValue(p[1]) {
			continue // "Ignoring invalid environment assignment"
		}
		env[p[0]] = p[1]
	}
	return nil
}

func print(env map[string]string) {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%s=%s\n", k, hex.EncodeToString([]byte(env[k])))
	}
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: minio-env-oracle minio FILE | view SYSTEMD WORKDIR")
		os.Exit(2)
	}
	env := map[string]string{}
	switch os.Args[1] {
	case "minio":
		// loadEnvVarsFromFiles: a missing file is no error.
		ekvs, err := minioEnvironFromFile(os.Args[2])
		if err != nil && !os.IsNotExist(err) {
			fmt.Printf("error: %v\n", err)
			return
		}
		for _, e := range ekvs {
			env[e.Key] = e.Value
		}
	case "view":
		if err := systemdEnv(os.Args[2], env); err != nil && !os.IsNotExist(err) {
			fmt.Printf("error: systemd: %v\n", err)
			return
		}
		if f, ok := env["MINIO_CONFIG_ENV_FILE"]; ok && f != "" {
			if !filepath.IsAbs(f) && len(os.Args) > 3 {
				f = filepath.Join(os.Args[3], f)
			}
			// MinIO: any error but "not exist" is fatal.
			ekvs, err := minioEnvironFromFile(f)
			if err != nil && !os.IsNotExist(err) {
				fmt.Printf("error: Unable to read the config environment file: %v\n", err)
				return
			}
			for _, e := range ekvs {
				env[e.Key] = e.Value
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command")
		os.Exit(2)
	}
	print(env)
}
