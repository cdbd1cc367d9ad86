// Package outputtest runs an output the way the agent does — records written by the real intake code, a queue, a dispatcher, a dead-letter store — for the tests of every output type.
package outputtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logflux/agent/internal/backoff"
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
	Queue       *queue.Memory
}

// Run appends recs to a memory queue, closes it for writing, and runs a
// dispatcher into out (retrying every 10-50 ms unless the output tunes
// its own) until the queue is drained or limit passes, which fails the
// test. Appending in units of batch records (1 when 0).
func Run(t testing.TB, out output.Output, recs [][]byte, batch int, limit time.Duration) *Result {
	t.Helper()
	if batch < 1 {
		batch = 1
	}
	q := queue.NewMemory(1<<30, queue.Reject)
	r, err := q.Reader(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(recs); i += batch {
		if err := q.Append(context.Background(), recs[i:min(i+batch, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	q.CloseWrite()
	dl := &DeadLetters{}
	d := &output.Dispatcher{Out: out, Reader: r, DeadLetter: dl, Backoff: backoff.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatalf("dispatcher: %v (sent %d, dead letters %d)", err, d.Counters.Sent.Load(), d.Counters.DeadLetter.Load())
	}
	if st := q.Stats(); st.Records != 0 {
		t.Errorf("%d records still queued after the run", st.Records)
	}
	return &Result{Dispatcher: d, DeadLetters: dl, Queue: q}
}
