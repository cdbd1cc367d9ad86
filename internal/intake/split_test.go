package intake_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/queue"
)

// mixedLoad is a stream of every kind of line a client may send, in a
// seeded random order: entries, batches (some partly bad), invalid entries,
// broken JSON, actions, empty lines, CRLF, over-long lines, and a flush
// now and then. It ends with a flush.
func mixedLoad(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	for i := range n {
		switch k := rng.IntN(100); {
		case k < 60:
			fmt.Fprintf(&b, `{"payload":"entry %d %s","entryType":1,"source":"s","logLevel":%d,"metadata":{"seq":"%d"}}`+"\n", i, strings.Repeat("x", rng.IntN(300)), 1+rng.IntN(8), i)
		case k < 68:
			fmt.Fprintf(&b, `{"entries":[{"payload":"b%d-1","entryType":2,"source":"s","logLevel":3},{"payload":"b%d-2","entryType":%d,"source":"s","logLevel":3}]}`+"\n", i, i, 1+rng.IntN(6))
		case k < 73:
			fmt.Fprintf(&b, `{"payload":"bad %d","entryType":9,"source":"s","logLevel":3}`+"\n", i)
		case k < 76:
			fmt.Fprintf(&b, `{"payload":"broken %d",`+"\n", i)
		case k < 79:
			b.WriteString(`{"action":"ping"}` + "\n")
		case k < 81:
			b.WriteString(`{"action":"flush"}` + "\n")
		case k < 84:
			b.WriteString("\n")
		case k < 88:
			fmt.Fprintf(&b, `{"payload":"crlf %d","entryType":1,"source":"s","logLevel":6}`+"\r\n", i)
		case k < 90:
			fmt.Fprintf(&b, `{"payload":"%s","entryType":1,"source":"s","logLevel":6}`+"\n", strings.Repeat("L", 5000))
		default:
			fmt.Fprintf(&b, `{"payload":"plain %d","entryType":3,"source":"s","logLevel":4,"timestamp":"2026-01-02T03:04:05+01:00"}`+"\n", i)
		}
	}
	b.WriteString(`{"action":"flush"}` + "\n")
	return []byte(b.String())
}

// runLoad sends load on one connection and returns every answer and every
// record queued (without id and receivedAt, which differ from run to run).
func runLoad(t *testing.T, load []byte) (answers []string, records []string, splits int64) {
	t.Helper()
	q := queue.NewMemory(1<<30, queue.Reject)
	rd, _ := q.Reader("out")
	srv, path := startServer(t, intake.Options{MaxLineBytes: 4096, MaxPendingBytes: 64 << 10}, q)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go c.Write(load)
	flushes := strings.Count(string(load), `{"action":"flush"}`)
	r := bufio.NewReader(c)
	for flushes > 0 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d answers: %v", len(answers), err)
		}
		answers = append(answers, line)
		if strings.Contains(line, `"accepted"`) {
			flushes--
		}
	}
	q.CloseWrite()
	for {
		recs, err := rd.Next(context.Background(), 1000, 1<<30)
		if err != nil {
			break
		}
		for _, rec := range recs {
			var m map[string]any
			if err := json.Unmarshal(rec, &m); err != nil {
				t.Fatalf("record is not JSON: %s", rec)
			}
			delete(m, "id")
			delete(m, "receivedAt")
			if m["timestamp"] != "2026-01-02T02:04:05Z" {
				delete(m, "timestamp") // the time of receipt
			}
			out, _ := json.Marshal(m)
			records = append(records, string(out))
		}
		rd.Commit()
	}
	return answers, records, srv.Splits()
}

// Decoding half of a large read on another goroutine changes nothing a
// client or an output can see: the same answers in the same order, the same
// records in the same order, as when every line is handled in turn.
func TestSplitDecodeChangesNothingVisible(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		load := mixedLoad(seed, 3000)
		restore := intake.SetSplitMinBytes(1 << 30)
		wantAnswers, wantRecords, _ := runLoad(t, load)
		restore()
		restore = intake.SetSplitMinBytes(4 << 10)
		gotAnswers, gotRecords, splits := runLoad(t, load)
		restore()
		if splits == 0 {
			t.Fatalf("seed %d: no read was split; the test proves nothing", seed)
		}
		if len(gotAnswers) != len(wantAnswers) {
			t.Fatalf("seed %d: %d answers with splitting, %d without", seed, len(gotAnswers), len(wantAnswers))
		}
		for i := range wantAnswers {
			if gotAnswers[i] != wantAnswers[i] {
				t.Fatalf("seed %d: answer %d is %q with splitting, %q without", seed, i, gotAnswers[i], wantAnswers[i])
			}
		}
		if len(gotRecords) != len(wantRecords) {
			t.Fatalf("seed %d: %d records with splitting, %d without", seed, len(gotRecords), len(wantRecords))
		}
		for i := range wantRecords {
			if gotRecords[i] != wantRecords[i] {
				t.Fatalf("seed %d: record %d is %s with splitting, %s without", seed, i, gotRecords[i], wantRecords[i])
			}
		}
		t.Logf("seed %d: %d answers, %d records, %d reads split", seed, len(gotAnswers), len(gotRecords), splits)
	}
}
