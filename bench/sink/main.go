// Command sink is the local backend for bench/compare-io.sh: one HTTP server
// that answers OTLP/HTTP logs, Elasticsearch _bulk, Loki push and plain
// NDJSON/JSON-array posts as those servers do on success, and counts the
// entries in every body, so that two agents' outputs can be measured into the
// same place (see Sink for the paths).
//
//	sink [-listen 127.0.0.1:0] [-addr-file FILE]
//
// It prints the address it listens on, and writes it to FILE when asked (for
// scripts that let it pick a free port). SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	addrFile := flag.String("addr-file", "", "write the address listened on to this file")
	flag.Parse()
	if err := run(*listen, *addrFile); err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(1)
	}
}

func run(listen, addrFile string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	fmt.Println("sink: listening on", addr)
	if addrFile != "" {
		// Written whole under another name, then renamed: a script polling
		// for the file never reads half an address.
		tmp := addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, addrFile); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: NewSink(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
