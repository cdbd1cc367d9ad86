// Command logflux-ingest-sim is a simulator of the LogFlux Ingestion API (discovery, handshake, encrypted ingest) for forwarding to offline and for tests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/logflux/agent/internal/ingestsim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ingest-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: logflux-ingest-sim [flags]

Runs a simulator of the LogFlux Ingestion API: discovery, /health, /version,
/info, the handshake and /v1/ingest, with real RSA-OAEP and AES-256-GCM. Every
entry it accepts is decrypted and appended to --out as one JSON line. Point
the agent at it with an output {type: logflux, api_key: eu-lf_..., endpoint: URL}.

Flags:`)
		fs.PrintDefaults()
	}
	var o ingestsim.Options
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "`address` to listen on")
	fs.StringVar(&o.Out, "out", "", "append each decrypted payload to this NDJSON `file`")
	fs.StringVar(&o.KeyFile, "key-file", "", "PEM RSA private `key` (default: a new 2048-bit key)")
	fs.StringVar(&o.Region, "region", "eu", "region named in the discovery document")
	var keys, fails, quotas []string
	add := func(l *[]string) func(string) error { return func(s string) error { *l = append(*l, s); return nil } }
	fs.Func("api-key", "accept only this API `key` (repeatable; default: any well-formed key)", add(&keys))
	fs.Func("fail", "answer `status=rate` of /v1/ requests (handshake and ingest) with that status, e.g. 503=0.3 (repeatable)", add(&fails))
	fs.Func("quota", "answer 507 for a `category`: events, traces or audit (repeatable)", add(&quotas))
	fs.DurationVar(&o.Faults.RetryAfter, "retry-after", 0, "Retry-After sent with 429 and 507")
	fs.DurationVar(&o.Faults.Latency, "latency", 0, "added to every ingest request")
	fs.Float64Var(&o.Faults.DropRate, "drop-rate", 0, "fraction of requests whose connection is dropped without an answer")
	fs.Float64Var(&o.Faults.PartFailureRate, "part-failure-rate", 0, "fraction of valid entries reported failed in an ingest answer (the rest of the request succeeds)")
	seed := fs.Uint64("seed", 1, "seed of the fault injection")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // asked for help: the flag package printed it
		}
		return 2
	}
	o.APIKeys = keys
	o.Seed = *seed
	for _, f := range fails {
		code, rate, ok := strings.Cut(f, "=")
		c, err1 := strconv.Atoi(code)
		r, err2 := strconv.ParseFloat(rate, 64)
		if !ok || err1 != nil || err2 != nil || r < 0 || r > 1 {
			fmt.Fprintf(stderr, "logflux-ingest-sim: --fail %q: want STATUS=RATE such as 503=0.3\n", f)
			return 2
		}
		if o.Faults.StatusRates == nil {
			o.Faults.StatusRates = map[int]float64{}
		}
		o.Faults.StatusRates[c] = r
	}
	for _, q := range quotas {
		o.Faults.Quota = append(o.Faults.Quota, ingestsim.Category(q))
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := ingestsim.New(o)
	if err != nil {
		fmt.Fprintf(stderr, "logflux-ingest-sim: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "logflux-ingest-sim: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "LogFlux Ingestion API simulator on %s\n", srv.URL())
	if o.Out != "" {
		fmt.Fprintf(stdout, "decrypted entries go to %s\n", o.Out)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	srv.Shutdown(sctx)
	st := srv.Stats()
	fmt.Fprintf(stdout, "accepted %d entries in %d sessions\n", st.Accepted, st.Sessions)
	if st.Mislabelled > 0 {
		fmt.Fprintf(stdout, "%d of them were labelled gzip but not compressed (X-LF-Payload-Type 1 or 3 over plain JSON, as the v3 Go SDK sends with compression off); accepted as plain JSON\n", st.Mislabelled)
	}
	return 0
}
