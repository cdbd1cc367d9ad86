// Package outputtest runs an output the way the agent does — records written by the real intake code, a queue, a dispatcher, a dead-letter store — for the tests of every output type.
package outputtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/backoff"
	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/protocol"
	"github.com/logflux/agent/internal/queue"
	"github.com/logflux/agent/internal/record"
)

// Entry is one entry to turn into a record; zero fields take defaults.
type Entry struct {
	Payload     string
	Source      string
	Level       int
	EntryType   int
	PayloadType string
	Metadata    map[string]string
	Timestamp   string
}

// Record writes e as the Agent API input would.
func Record(t testing.TB, e Entry) []byte {
	t.Helper()
	if e.Source == "" {
		e.Source = "app"
	}
	if e.Level == 0 {
		e.Level = 7
	}
	if e.EntryType == 0 {
		e.EntryType = 1
	}
	m := map[string]any{"payload": e.Payload, "source": e.Source, "logLevel": e.Level, "entryType": e.EntryType}
	if e.PayloadType != "" {
		m["payloadType"] = e.PayloadType
	}
	if len(e.Metadata) > 0 {
		m["metadata"] = e.Metadata
	}
	if e.Timestamp != "" {
		m["timestamp"] = e.Timestamp
	}
	line, _ := json.Marshal(m)
	var d protocol.Decoder
	msg, perr := d.Decode(line)
	if perr != nil {
		t.Fatalf("entry %s: %v", line, perr)
	}
	var s protocol.Stamp
	s.Input = "agent_api"
	s.Set(time.Now())
	return protocol.AppendRecordStamp(nil, &msg.Entries[0], &s)
}

// Records makes n records "entry 0" … "entry n-1" of the given source.
func Records(t testing.TB, n int, source string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = Record(t, Entry{Payload: fmt.Sprintf("entry %d", i), Source: source, Level: 1 + i%8})
	}
	return out
}

// IDs returns the ids of records.
func IDs(t testing.TB, recs [][]byte) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		e, err := record.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = e.ID
	}
	return ids
}

// DeadLetters is a dead-letter store in memory.
type DeadLetters struct {
	mu      sync.Mutex
	Records [][]byte
	Reasons []string
}

// Put keeps the records.
func (d *DeadLetters) Put(_ string, recs [][]byte, reason error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range recs {
		d.Records = append(d.Records, append([]byte(nil), r...))
		d.Reasons = append(d.Reasons, reason.Error())
	}
	return nil
}

// IDs returns the ids of the dead-lettered records.
func (d *DeadLetters) IDs(t testing.TB) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return IDs(t, d.Records)
}

// Result is what a Run did.
type Result struct {
	Dispatcher  *output.Dispatcher
	DeadLetters *DeadLetters
	Queue       queue.Queue
}

// Run appends recs to a memory queue, closes it for writing, and runs a
// dispatcher into out (retrying every 10-50 ms unless the output tunes
// its own) until the queue is drained or limit passes, which fails the
// test. Appending in units of batch records (1 when 0).
func Run(t testing.TB, out output.Output, recs [][]byte, batch int, limit time.Duration) *Result {
	t.Helper()
	return Start(t, out, recs, batch, limit).Wait(t)
}

// Running is a dispatcher Start left running.
type Running struct {
	Result
	done chan error
	stop context.CancelFunc
}

// Start is Run without waiting: the dispatcher runs in the background
// (its counters and queue can be watched) until Wait.
func Start(t testing.TB, out output.Output, recs [][]byte, batch int, limit time.Duration) *Running {
	t.Helper()
	return StartOn(t, queue.NewMemory(1<<30, queue.Reject), out, recs, batch, limit)
}

// StartOn is Start on a queue of the caller's (a disk queue, for
// benchmarks from where the agent keeps entries by default). The queue
// must be empty; it is synced before the dispatcher starts.
func StartOn(t testing.TB, q queue.Queue, out output.Output, recs [][]byte, batch int, limit time.Duration) *Running {
	t.Helper()
	if batch < 1 {
		batch = 1
	}
	r, err := q.Reader(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(recs); i += batch {
		if err := q.Append(context.Background(), recs[i:min(i+batch, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	q.CloseWrite()
	dl := &DeadLetters{}
	d := &output.Dispatcher{Out: out, Reader: r, DeadLetter: dl, Backoff: backoff.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	run := &Running{Result: Result{Dispatcher: d, DeadLetters: dl, Queue: q}, done: make(chan error, 1), stop: cancel}
	go func() { run.done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-run.done; run.done <- nil })
	return run
}

// Wait waits for the queue to be drained; the run's limit passing fails
// the test.
func (r *Running) Wait(t testing.TB) *Result {
	t.Helper()
	err := <-r.done
	r.done <- err // for the cleanup
	r.stop()
	d := r.Dispatcher
	if err != nil {
		t.Fatalf("dispatcher: %v (sent %d, dead letters %d)", err, d.Counters.Sent.Load(), d.Counters.DeadLetter.Load())
	}
	if st := r.Queue.Stats(); st.Records != 0 {
		t.Errorf("%d records still queued after the run", st.Records)
	}
	return &r.Result
}

// Eventually polls cond every 10 ms until it holds, failing the test with
// what after limit.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SelfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir, and returns their paths (the certificate is its own CA) with
// a server TLS configuration that presents it.
func SelfSigned(t testing.TB, dir string) (certFile, keyFile string, server *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "outputtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// Sample returns the value of the metric named name, or -1.
func Sample(m *component.Metrics, name string) int64 {
	for _, s := range m.Samples() {
		if s.Name == name {
			return s.Value
		}
	}
	return -1
}

// Bulk makes n records of about size bytes each (distinct ids, sources
// "app-0" … "app-7"), written as the Agent API writes them, for
// benchmarks.
func Bulk(t testing.TB, n, size int) [][]byte {
	t.Helper()
	var d protocol.Decoder
	var s protocol.Stamp
	s.Input = "agent_api"
	s.Set(time.Now())
	make1 := func(payload, source string) []byte {
		line, _ := json.Marshal(map[string]any{"payload": payload, "source": source, "logLevel": 6, "entryType": 1})
		msg, perr := d.Decode(line)
		if perr != nil {
			t.Fatal(perr)
		}
		return protocol.AppendRecordStamp(nil, &msg.Entries[0], &s)
	}
	fill := max(size-len(make1("x", "app-0"))+1, 1)
	payload := make([]byte, fill)
	for i := range payload {
		payload[i] = "abcdefghijklmnopqrstuvwxyz "[i%27]
	}
	var decoders [8]protocol.Decoder // a decoder's message lives until its next Decode
	var msgs [8]*protocol.Message
	for i := range msgs {
		line, _ := json.Marshal(map[string]any{"payload": string(payload), "source": fmt.Sprintf("app-%d", i), "logLevel": 6, "entryType": 1})
		m, perr := decoders[i].Decode(line)
		if perr != nil {
			t.Fatal(perr)
		}
		msgs[i] = m
	}
	arena := make([]byte, 0, n*(size+16))
	out := make([][]byte, n)
	for i := range out {
		start := len(arena)
		arena = protocol.AppendRecordStamp(arena, &msgs[i%8].Entries[0], &s)
		out[i] = arena[start:len(arena):len(arena)]
	}
	return out
}

// BenchEntries is n, or LOGFLUX_BENCH_ENTRIES when set (for a quick look
// or a profile).
func BenchEntries(t testing.TB, n int) int {
	if v := os.Getenv("LOGFLUX_BENCH_ENTRIES"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 {
			t.Fatalf("LOGFLUX_BENCH_ENTRIES=%q is not a count", v)
		}
		return m
	}
	return n
}

// CheckOnce fails the test unless got (the ids a backend holds, one per
// message) has each of want's entries exactly once and nothing else.
func CheckOnce(t testing.TB, got []string, want [][]byte) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	lost, dups := 0, 0
	for _, id := range IDs(t, want) {
		if seen[id] == 0 {
			lost++
		}
	}
	for _, n := range seen {
		dups += n - 1
	}
	if lost > 0 || dups > 0 || len(seen) != len(want) {
		t.Fatalf("%d entries sent, %d distinct at the backend: %d lost, %d duplicates", len(want), len(seen), lost, dups)
	}
}
