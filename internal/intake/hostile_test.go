package intake_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/queue"
)

// hostileEnv is what a hostile case gets: the agent under attack.
type hostileEnv struct {
	t    *testing.T
	h    *harness
	unix string
	tcp  string
}

func (e *hostileEnv) dial(network string) net.Conn {
	e.t.Helper()
	addr := e.unix
	if network == "tcp" {
		addr = e.tcp
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// exchange writes data on a new connection and returns the first response
// line (or what happened instead), then closes.
func (e *hostileEnv) exchange(network string, data []byte) string {
	c := e.dial(network)
	defer c.Close()
	go func() { c.Write(data) }()
	return firstLine(c, 20*time.Second)
}

func firstLine(c net.Conn, wait time.Duration) string {
	c.SetReadDeadline(time.Now().Add(wait))
	line, err := bufio.NewReaderSize(c, 1<<16).ReadString('\n')
	if err != nil && line == "" {
		if err == io.EOF {
			return "closed"
		}
		return "error: " + err.Error()
	}
	return summarize(line)
}

// summarize keeps what matters of a response for the report.
func summarize(line string) string {
	line = strings.TrimSpace(line)
	if i := strings.Index(line, `"code":"`); i >= 0 {
		code := line[i+8:]
		return code[:strings.IndexByte(code, '"')]
	}
	if strings.Contains(line, "pong") {
		return "pong"
	}
	if strings.Contains(line, `"action":"flush"`) {
		return "flush answered"
	}
	return line
}

// wellBehaved proves the agent still serves others: a fresh client's entry is
// accepted and confirmed by a flush.
func (e *hostileEnv) wellBehaved() {
	e.t.Helper()
	c := e.dial("unix")
	defer c.Close()
	fmt.Fprintf(c, "%s\n%s\n", validEntry, `{"action":"flush"}`)
	if got := firstLine(c, 10*time.Second); got != "flush answered" {
		e.t.Fatalf("a well-behaved client got %q", got)
	}
}

type hostileCase struct {
	name string
	want string // the response the attack must get
	run  func(e *hostileEnv) string
}

func line(s string) []byte { return []byte(s + "\n") }

func hostileCases() []hostileCase {
	big := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	return []hostileCase{
		{"binary garbage", "invalid_json", func(e *hostileEnv) string {
			return e.exchange("unix", append([]byte{0x00, 0xff, 0xfe, 0x01, 0x80, 0x7f}, '\n'))
		}},
		{"1 MiB of NUL bytes", "invalid_json", func(e *hostileEnv) string { return e.exchange("unix", append(big(1<<20, 0), '\n')) }},
		{"unterminated line of 300 MiB", "message_too_large", func(e *hostileEnv) string {
			c := e.dial("unix")
			defer c.Close()
			go func() {
				chunk := big(1<<20, 'a')
				for i := 0; i < 300; i++ {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
			return firstLine(c, 60*time.Second)
		}},
		{"17 MiB line, then a valid entry", "message_too_large, then accepted", func(e *hostileEnv) string {
			c := e.dial("unix")
			defer c.Close()
			go func() {
				c.Write(append(big(17<<20, 'x'), '\n'))
				c.Write(line(validEntry))
				c.Write(line(`{"action":"flush"}`))
			}()
			r := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			a, _ := r.ReadString('\n')
			b, _ := r.ReadString('\n')
			if strings.Contains(b, `"accepted":1`) {
				return summarize(a) + ", then accepted"
			}
			return summarize(a) + " / " + b
		}},
		{"nesting 100,000 levels deep", "invalid_json", func(e *hostileEnv) string {
			return e.exchange("unix", append(append([]byte(`{"x":`), big(100000, '[')...), '\n'))
		}},
		{"object nesting 50,000 levels deep", "invalid_json", func(e *hostileEnv) string {
			return e.exchange("unix", line(strings.Repeat(`{"a":`, 50000)))
		}},
		{"10,000 empty lines", "pong (no answers to empty lines)", func(e *hostileEnv) string {
			return e.exchange("unix", append(big(10000, '\n'), line(`{"action":"ping"}`)...)) + " (no answers to empty lines)"
		}},
		{"100,000 CRLF lines", "pong", func(e *hostileEnv) string {
			return e.exchange("unix", append(bytes.Repeat([]byte("\r\n"), 100000), line(`{"action":"ping"}`)...))
		}},
		{"16 MiB of spaces on one line", "pong", func(e *hostileEnv) string {
			return e.exchange("unix", append(append(big(16<<20-16, ' '), '\n'), line(`{"action":"ping"}`)...))
		}},
		{"10,000 invalid lines, answers read", "10000 × invalid_json, then pong", func(e *hostileEnv) string {
			c := e.dial("unix")
			defer c.Close()
			go func() {
				c.Write(append(bytes.Repeat([]byte("x\n"), 10000), line(`{"action":"ping"}`)...))
			}()
			r := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			n := 0
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return fmt.Sprintf("%d × invalid_json, then %v", n, err)
				}
				if strings.Contains(l, "invalid_json") {
					n++
					continue
				}
				return fmt.Sprintf("%d × invalid_json, then %s", n, summarize(l))
			}
		}},
		{"client that never reads its error responses", "closed by the agent", func(e *hostileEnv) string {
			c := e.dial("unix")
			defer c.Close()
			w := bufio.NewWriterSize(c, 1<<20)
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				for i := 0; i < 10000; i++ {
					w.WriteString("garbage\n")
				}
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if err := w.Flush(); err != nil {
					return "closed by the agent"
				}
			}
			return "still open"
		}},
		{"slowloris: one byte every 20 ms", "others unaffected; entry accepted when complete", func(e *hostileEnv) string {
			c := e.dial("unix")
			defer c.Close()
			msg := line(validEntry + "\n" + `{"action":"flush"}`)
			done := make(chan string, 1)
			go func() { done <- firstLine(c, 30*time.Second) }()
			for i, b := range msg {
				c.Write([]byte{b})
				if i == len(msg)/2 {
					e.wellBehaved() // served while the slow client dribbles
				}
				time.Sleep(20 * time.Millisecond)
				if i > 80 {
					c.Write(msg[i+1:])
					break
				}
			}
			if got := <-done; got == "flush answered" {
				return "others unaffected; entry accepted when complete"
			} else {
				return got
			}
		}},
		{"1,500 idle connections", "others unaffected", func(e *hostileEnv) string {
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for i := 0; i < 1500; i++ {
				c, err := net.Dial("unix", e.unix)
				if err != nil {
					return fmt.Sprintf("dial %d: %v", i, err)
				}
				conns = append(conns, c)
			}
			e.wellBehaved()
			return "others unaffected"
		}},
		{"2,000 connect/disconnect cycles", "no connection left open", func(e *hostileEnv) string {
			for i := 0; i < 2000; i++ {
				c, err := net.Dial("unix", e.unix)
				if err != nil {
					return err.Error()
				}
				c.Close()
			}
			deadline := time.Now().Add(10 * time.Second)
			for e.h.srv.Counters.UnixOpen.Load() > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := e.h.srv.Counters.UnixOpen.Load(); n > 0 {
				return fmt.Sprintf("%d still open", n)
			}
			return "no connection left open"
		}},
		{"TCP: entry before authenticate", "auth_required", func(e *hostileEnv) string { return e.exchange("tcp", line(validEntry)) }},
		{"TCP: garbage before authenticate (no newline: the deadline passes mid-line)", "auth_timeout", func(e *hostileEnv) string { return e.exchange("tcp", big(1000, 0xff)) }},
		// Either the authentication deadline passes while the line is read
		// (auth_timeout) or the line passes max_line_bytes first
		// (auth_required): which comes first depends on the machine's speed.
		{"TCP: 100 MiB line before authenticate", "auth_timeout|auth_required", func(e *hostileEnv) string {
			c := e.dial("tcp")
			defer c.Close()
			go func() {
				for i := 0; i < 100; i++ {
					if _, err := c.Write(big(1<<20, 'a')); err != nil {
						return
					}
				}
			}()
			return firstLine(c, 30*time.Second)
		}},
		{"TCP: silent after connecting", "auth_timeout", func(e *hostileEnv) string {
			c := e.dial("tcp")
			defer c.Close()
			return firstLine(c, 20*time.Second)
		}},
		{"TCP: authentication brute force", "auth_failed ×100, then unavailable", func(e *hostileEnv) string {
			// A few failures leave the right secret usable; 20 times the
			// failure limit (5) within auth_block is guessing, and refused.
			var got []string
			for i := 0; i < 101; i++ {
				got = append(got, e.exchange("tcp", line(fmt.Sprintf(`{"action":"authenticate","shared_secret":"guess-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, i))))
			}
			if strings.Join(got[:100], ",") == strings.TrimSuffix(strings.Repeat("auth_failed,", 100), ",") {
				return "auth_failed ×100, then " + got[100]
			}
			return strings.Join(got, ",")
		}},
		{"duplicate keys", "invalid_json", func(e *hostileEnv) string {
			return e.exchange("unix", line(`{"payload":"a","payload":"b","entryType":1,"source":"s","logLevel":7}`))
		}},
		{"200,000 metadata keys (2.6 MB)", "invalid_entry", func(e *hostileEnv) string {
			var b strings.Builder
			b.WriteString(`{"payload":"x","entryType":1,"source":"s","logLevel":7,"metadata":{`)
			for i := 0; i < 200000; i++ {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"key%06d":"v"`, i)
			}
			b.WriteString("}}")
			return e.exchange("unix", line(b.String()))
		}},
		{"a number of 1,000,000 digits", "invalid_entry", func(e *hostileEnv) string {
			return e.exchange("unix", line(`{"payload":"x","entryType":1,"source":"s","logLevel":`+strings.Repeat("9", 1000000)+`}`))
		}},
		{"exponent 1e999999999", "invalid_entry", func(e *hostileEnv) string {
			return e.exchange("unix", line(`{"payload":"x","entryType":1e999999999,"source":"s","logLevel":7}`))
		}},
		{"invalid UTF-8 in a metadata key", "invalid_json", func(e *hostileEnv) string {
			return e.exchange("unix", line("{\"payload\":\"x\",\"entryType\":1,\"source\":\"s\",\"logLevel\":7,\"metadata\":{\"\xc0\xaf\":\"v\"}}"))
		}},
		{"lone surrogate escapes", "invalid_json", func(e *hostileEnv) string {
			return e.exchange("unix", line(`{"payload":"\udc00\ud800","entryType":1,"source":"s","logLevel":7}`))
		}},
		{"payload of 500,000 \\u0000 escapes", "pong (accepted)", func(e *hostileEnv) string {
			return e.exchange("unix", line(`{"payload":"`+strings.Repeat(`\u0000`, 500000)+`","entryType":1,"source":"s","logLevel":7}`+"\n"+`{"action":"ping"}`)) + " (accepted)"
		}},
		{"array of 1,000,000 elements", "invalid_message", func(e *hostileEnv) string {
			return e.exchange("unix", line("["+strings.Repeat("0,", 999999)+"0]"))
		}},
		{"batch of 101 entries", "batch_too_large", func(e *hostileEnv) string {
			entries := strings.Repeat(validEntry+",", 100) + validEntry
			return e.exchange("unix", line(`{"entries":[`+entries+`]}`))
		}},
		{"100,000 flush requests", "100000 answered", func(e *hostileEnv) string {
			c := e.dial("unix")
			defer c.Close()
			go func() { c.Write(bytes.Repeat(line(`{"action":"flush"}`), 100000)) }()
			r := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			n := 0
			for n < 100000 {
				if _, err := r.ReadString('\n'); err != nil {
					break
				}
				n++
			}
			return fmt.Sprintf("%d answered", n)
		}},
		{"half-closed client", "pong, entry accepted", func(e *hostileEnv) string {
			before := e.h.srv.Counters.Accepted.Load()
			c := e.dial("unix")
			defer c.Close()
			c.Write(line(validEntry + "\n" + `{"action":"ping"}`))
			c.(*net.UnixConn).CloseWrite()
			got := firstLine(c, 10*time.Second)
			if e.h.srv.Counters.Accepted.Load() == before+1 {
				got += ", entry accepted"
			}
			return got
		}},
		{"torn last line, then hang-up", "invalid_json (answer dropped: client gone)", func(e *hostileEnv) string {
			rejected := e.h.srv.Counters.Rejected.Load()
			invalid := e.h.srv.Counters.Errors()["invalid_json"]
			c := e.dial("unix")
			c.Write([]byte(`{"payload":"torn","entryTy`))
			c.Close()
			deadline := time.Now().Add(10 * time.Second)
			for e.h.srv.Counters.Rejected.Load() == rejected && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if e.h.srv.Counters.Rejected.Load() == rejected+1 && e.h.srv.Counters.Errors()["invalid_json"] == invalid+1 {
				return "invalid_json (answer dropped: client gone)"
			}
			return "not counted"
		}},
		{"20 garbage writers beside a good client", "all good entries accepted", func(e *hostileEnv) string {
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial("unix", e.unix)
					if err != nil {
						return
					}
					defer c.Close()
					go io.Copy(io.Discard, c)
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := c.Write(bytes.Repeat([]byte("{\"bad\":\xff}\n"), 1000)); err != nil {
							return
						}
					}
				}()
			}
			defer func() { close(stop); wg.Wait() }()
			c := e.dial("unix")
			defer c.Close()
			go func() {
				c.Write(append(bytes.Repeat(line(validEntry), 5000), line(`{"action":"flush"}`)...))
			}()
			got := firstLine(c, 30*time.Second)
			if got == "flush answered" {
				return "all good entries accepted"
			}
			return got
		}},
	}
}

// TestHostileInput throws 30+ kinds of bad or abusive input at a real
// server and checks, for each, the answer it gets, that the agent still
// serves a well-behaved client afterwards, and that memory stays bounded.
func TestHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("hostile suite is not short")
	}
	h := newHarness(t, map[string]any{"auth_timeout_ms": 500.0})
	e := &hostileEnv{t: t, h: h, unix: h.unixPath, tcp: h.tcpAddr}
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var report strings.Builder
	report.WriteString("\n| # | hostile input | answer |\n|---|---|---|\n")
	for i, c := range hostileCases() {
		got := c.run(e)
		fmt.Fprintf(&report, "| %d | %s | %s |\n", i+1, c.name, got)
		if !slices.Contains(strings.Split(c.want, "|"), got) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		e.wellBehaved()
	}
	close(stop)
	<-sampled
	t.Log(report.String())
	t.Logf("peak heap during the suite: %d MiB", peak.Load()>>20)
	// The largest legitimate buffers are a few 16 MiB lines in flight;
	// everything the attacks send beyond that must be discarded, not held.
	if p := peak.Load(); p > 400<<20 {
		t.Errorf("peak heap %d MiB: memory is not bounded", p>>20)
	}
}

// TestConnectionFloodRefusedBeyondLimit: past max_connections, new clients
// get unavailable and are closed; the ones inside the limit keep working.
func TestConnectionFloodRefusedBeyondLimit(t *testing.T) {
	q := queue.NewMemory(1<<20, queue.Reject)
	_, path := startServer(t, intake.Options{MaxConnections: 100, MaxPerPeer: 0}, q)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	refused := 0
	for i := 0; i < 300; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns[100:] {
		if firstLine(c, 5*time.Second) == "unavailable" {
			refused++
		}
	}
	if refused != 200 {
		t.Fatalf("%d of 200 connections over the limit were refused", refused)
	}
	c := conns[0]
	fmt.Fprintln(c, `{"action":"ping"}`)
	if got := firstLine(c, 5*time.Second); got != "pong" {
		t.Fatalf("a connection inside the limit got %q", got)
	}
}
