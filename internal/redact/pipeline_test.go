package redact_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/queue"
	"github.com/logflux/agent/internal/redact"
)

// Through a real Unix socket into a real memory queue: what reaches the
// queue is redacted, a drop_entry entry is accepted (flush counts it) but
// never queued, and a swap of the rules applies to a connection already open.
func TestIntakeRedactsBeforeTheQueue(t *testing.T) {
	live := redact.NewLive()
	r, err := live.Compile(&redact.Config{Rules: []redact.Rule{{Name: "never", Pattern: "TOPSECRET", Action: redact.ActionDropEntry}}})
	if err != nil {
		t.Fatal(err)
	}
	live.Set(r)
	q := queue.NewMemory(1<<20, queue.Reject)
	srv := intake.New(intake.Options{Filter: live}, q)
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := srv.ListenUnix(path, 0o600, "")
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve(ln, intake.Unix)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(c)
	send := func(payload string) {
		fmt.Fprintf(c, `{"payload":%q,"entryType":1,"source":"web","logLevel":6}`+"\n", payload)
	}
	flush := func() string {
		fmt.Fprintln(c, `{"action":"flush"}`)
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return line
	}
	send("paid with 4111 1111 1111 1111")
	send("TOPSECRET launch codes")
	send("hello bob@example.com")
	if got := flush(); !strings.Contains(got, `"accepted":3,"rejected":0`) {
		t.Errorf("flush: %s", got)
	}
	// Redaction off now, for the same open connection.
	live.Set(nil)
	send("after the swap bob@example.com")
	flush()

	rdr, err := q.Reader("t")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs, err := rdr.Next(ctx, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records queued, want 3", len(recs))
	}
	for i, want := range []string{
		`"payload":"paid with [REDACTED:card]","metadata":{"redacted":"card"}}`,
		`"payload":"hello [REDACTED:email]","metadata":{"redacted":"email"}}`,
		`"payload":"after the swap bob@example.com"}`,
	} {
		if !strings.HasSuffix(string(recs[i]), want) {
			t.Errorf("record %d: %s\nwant it to end %s", i, recs[i], want)
		}
	}
	for _, rec := range recs {
		if strings.Contains(string(rec), "4111") || strings.Contains(string(rec), "TOPSECRET") {
			t.Errorf("a secret reached the queue: %s", rec)
		}
	}
}
