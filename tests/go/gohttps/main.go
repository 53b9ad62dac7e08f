// gohttps: a small HTTPS client and server for apitop's Go capture tests, built from this source
// by scripts/go-fixtures.sh with the machine's Go toolchain (normal, and stripped PIE).
//
//	gohttps server ADDR CERT KEY              serves POST /echo (JSON back) and GET /items/{id}
//	gohttps client URL N BODY                 N POSTs of BODY to URL on one connection
//
// The client speaks HTTP/2 unless GODEBUG=http2client=0. It trusts any certificate: the tests use
// a throw-away self-signed one.
package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gohttps server ADDR CERT KEY | client URL N BODY")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		serve(os.Args[2], os.Args[3], os.Args[4])
	case "client":
		n, err := strconv.Atoi(os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad N:", err)
			os.Exit(2)
		}
		client(os.Args[2], n, os.Args[4])
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func serve(addr, cert, key string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Go-Server", "gohttps")
		fmt.Fprintf(w, `{"proto":%q,"method":%q,"got":%s}`, r.Proto, r.Method, orNull(body))
	})
	mux.HandleFunc("/items/", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/items/")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"proto":%q}`, id, r.Proto)
	})
	srv := &http.Server{Addr: addr, Handler: mux}
	fmt.Println("listening", addr)
	if err := srv.ListenAndServeTLS(cert, key); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func orNull(b []byte) string {
	if len(bytes.TrimSpace(b)) == 0 {
		return "null"
	}
	return string(b)
}

func client(url string, n int, body string) {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
	}
	c := &http.Client{Transport: tr}
	for i := 0; i < n; i++ {
		resp, err := c.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			fmt.Fprintln(os.Stderr, "request failed:", err)
			os.Exit(1)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s %s\n", resp.StatusCode, resp.Proto, b)
	}
}
