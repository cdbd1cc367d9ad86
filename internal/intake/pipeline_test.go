package intake_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/queue"
)

// Large groups of entries are appended while the connection reads on; the
// answers must still come in the order of the messages, and every entry is
// counted exactly once.
func TestQueueFullAnswersKeepMessageOrder(t *testing.T) {
	for _, pause := range []bool{false, true} {
		t.Run(fmt.Sprintf("pause=%v", pause), func(t *testing.T) {
			q := queue.NewMemory(40<<10, queue.Reject) // room for about 170 entries
			_, path := startServer(t, intake.Options{}, q)
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			const before, after = 300, 50
			c.Write([]byte(strings.Repeat(validEntry+"\n", before)))
			if pause {
				// The group is handed over when the connection runs out
				// of lines; its queue_full answers are written from there.
				time.Sleep(100 * time.Millisecond)
			}
			c.Write([]byte(`{"action":"ping"}` + "\n" + strings.Repeat(validEntry+"\n", after) + `{"action":"flush"}` + "\n"))

			r := bufio.NewReader(c)
			var fullBefore, fullAfter int
			pong := false
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("after %d+%d queue_full answers: %v", fullBefore, fullAfter, err)
				}
				switch {
				case strings.Contains(line, `"queue_full"`) && !pong:
					fullBefore++
				case strings.Contains(line, `"queue_full"`):
					fullAfter++
				case strings.Contains(line, "pong"):
					pong = true
				case strings.Contains(line, `"flush"`) || strings.Contains(line, `"accepted"`):
					var accepted, rejected int
					i := strings.Index(line, `"accepted":`)
					fmt.Sscanf(line[i:], `"accepted":%d,"rejected":%d`, &accepted, &rejected)
					if !pong {
						t.Fatalf("flush answered before pong: %q", line)
					}
					if accepted == 0 || fullBefore == 0 {
						t.Fatalf("accepted %d, refused before the ping %d: the test did not fill the queue", accepted, fullBefore)
					}
					if accepted+fullBefore != before {
						t.Errorf("%d accepted + %d refused before the ping, want %d", accepted, fullBefore, before)
					}
					if fullAfter != after {
						t.Errorf("%d refused after the ping, want %d", fullAfter, after)
					}
					if rejected != fullBefore+fullAfter {
						t.Errorf("flush says %d rejected, answers say %d", rejected, fullBefore+fullAfter)
					}
					if st := q.Stats(); st.Records != int64(accepted) {
						t.Errorf("queue holds %d records, flush says %d accepted", st.Records, accepted)
					}
					return
				default:
					t.Fatalf("unexpected answer %q", line)
				}
			}
		})
	}
}

// With the block policy, a group waiting for room holds the connection back;
// nothing is refused, and everything arrives in order.
func TestBlockPolicyWithLargeGroups(t *testing.T) {
	q := queue.NewMemory(64<<10, queue.Block)
	rd, _ := q.Reader("out")
	_, path := startServer(t, intake.Options{MaxPendingBytes: 16 << 10}, q)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	const n = 5000
	go func() {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `{"payload":"p","entryType":1,"source":"s","logLevel":7,"metadata":{"seq":"%d"}}`+"\n", i)
		}
		b.WriteString(`{"action":"flush"}` + "\n")
		c.Write([]byte(b.String()))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for got := 0; got < n; {
		recs, err := rd.Next(ctx, 100, 1<<20)
		if err != nil {
			t.Fatalf("after %d records: %v", got, err)
		}
		for _, r := range recs {
			if want := fmt.Sprintf(`"seq":"%d"`, got); !strings.Contains(string(r), want) {
				t.Fatalf("record %d is out of order: %s", got, r)
			}
			got++
		}
		rd.Commit()
		time.Sleep(time.Millisecond) // a slow output
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, fmt.Sprintf(`"accepted":%d,"rejected":0`, n)) {
		t.Fatalf("flush: %q %v", line, err)
	}
}
