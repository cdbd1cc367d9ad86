package syslog

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/config"
	"github.com/logflux/agent/internal/input/inputtest"
	"github.com/logflux/agent/internal/record"
)

// start runs a syslog input on address with the given tweaks.
func start(t *testing.T, address string, tweak func(*Config)) (*Input, *inputtest.Sink) {
	t.Helper()
	c := Factory{}.NewConfig().(*Config)
	c.Address = address
	if tweak != nil {
		tweak(c)
	}
	in, sink := inputtest.Start(t, Factory{}, c, component.Settings{Name: "sys"})
	return in.(*Input), sink
}

// hostPort is the listener's "127.0.0.1", "port".
func hostPort(t *testing.T, in *Input) (string, string) {
	t.Helper()
	u := in.Status().Listeners[0]
	h, p, err := net.SplitHostPort(u[strings.Index(u, "//")+2:])
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// dialInput connects to the input's (first) listener over network; the
// connection is closed when the test ends.
func dialInput(t *testing.T, in *Input, network string) net.Conn {
	t.Helper()
	h, p := hostPort(t, in)
	conn, err := net.Dial(network, net.JoinHostPort(h, p))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func logger(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "logger", args...).CombinedOutput(); err != nil {
		t.Fatalf("logger %v: %v: %s", args, err, out)
	}
}

func TestLoggerRFC5424OverUDP(t *testing.T) {
	in, sink := start(t, "udp://127.0.0.1:0", nil)
	h, p := hostPort(t, in)
	logger(t, "-n", h, "-P", p, "-d", "--rfc5424", "-t", "billing", "-i", "-p", "local3.warning",
		"--msgid", "PAY1", "--sd-id", "zoo@32473", "--sd-param", `tiger="hungry"`, "card declined")
	e := sink.Wait(t, 1)[0]
	if e.Payload != "card declined" || e.Source != "billing" || e.LogLevel != 5 || e.PayloadType != "syslog" || e.Input != "sys" {
		t.Fatalf("entry %+v", e)
	}
	for k, v := range map[string]string{"syslog.facility": "local3", "syslog.appname": "billing", "syslog.msgid": "PAY1",
		"syslog.sd.zoo@32473.tiger": "hungry", "syslog.format": "rfc5424"} {
		if e.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q (all: %v)", k, e.Metadata[k], v, e.Metadata)
		}
	}
	if e.Metadata["syslog.hostname"] == "" || e.Metadata["syslog.procid"] == "" {
		t.Errorf("hostname and procid missing: %v", e.Metadata)
	}
	if ts, _ := time.Parse(time.RFC3339Nano, e.Timestamp); time.Since(ts) > time.Minute {
		t.Errorf("timestamp %s is not the message's", e.Timestamp)
	}
}

func TestLoggerOverTCPBothFramings(t *testing.T) {
	in, sink := start(t, "tcp://127.0.0.1:0", nil)
	h, p := hostPort(t, in)
	logger(t, "-n", h, "-P", p, "-T", "--octet-count", "--rfc5424", "-t", "api", "-p", "user.err", "octet counted")
	logger(t, "-n", h, "-P", p, "-T", "--rfc3164", "-t", "cron", "-p", "cron.debug", "newline framed")
	es := sink.Wait(t, 2)
	got := map[string]record.Entry{}
	for _, e := range es {
		got[e.Payload] = e
	}
	if e := got["octet counted"]; e.Source != "api" || e.LogLevel != 4 || e.Metadata["syslog.format"] != "rfc5424" {
		t.Errorf("octet-counted entry %+v", e)
	}
	if e := got["newline framed"]; e.Source != "cron" || e.LogLevel != 8 || e.Metadata["syslog.format"] != "rfc3164" || e.Metadata["syslog.facility"] != "cron" {
		t.Errorf("newline-framed RFC 3164 entry %+v", e)
	}
}

func TestLoggerUnixDatagram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	_, sink := start(t, "unix://"+path, nil)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o666 {
		t.Fatalf("socket %v %v", st, err)
	}
	logger(t, "-u", path, "-d", "--rfc3164", "-t", "sshd", "-p", "auth.notice", "accepted key")
	e := sink.Wait(t, 1)[0]
	if e.Payload != "accepted key" || e.Source != "sshd" || e.LogLevel != 6 || e.Metadata["syslog.facility"] != "auth" {
		t.Fatalf("entry %+v", e)
	}
	if _, ok := e.Metadata["syslog.peer"]; ok {
		t.Errorf("a Unix datagram has no peer address: %v", e.Metadata)
	}
}

func TestSeverityTable(t *testing.T) {
	in, sink := start(t, "udp://127.0.0.1:0", nil)
	conn := dialInput(t, in, "udp")
	for sev := 0; sev < 8; sev++ {
		fmt.Fprintf(conn, "<%d>1 2025-01-02T03:04:05Z host app - - - severity %d", 8+sev, sev)
	}
	es := sink.Wait(t, 8)
	for _, e := range es {
		var sev int
		fmt.Sscanf(e.Payload, "severity %d", &sev)
		if e.LogLevel != sev+1 {
			t.Errorf("severity %d became logLevel %d, want %d", sev, e.LogLevel, sev+1)
		}
		if e.Timestamp != "2025-01-02T03:04:05Z" {
			t.Errorf("timestamp %s", e.Timestamp)
		}
	}
}

// Malformed messages are kept whole, never dropped, and the ones after
// them are read as usual.
func TestMalformedKeptRaw(t *testing.T) {
	in, sink := start(t, "tcp://127.0.0.1:0", func(c *Config) { c.MaxMessageBytes = 1024 })
	conn := dialInput(t, in, "tcp")
	long := strings.Repeat("x", 3000)
	frames := []string{
		"just some text, no syslog at all\n",
		"<999>1 bad priority\n",
		"<13>1 2025-13-45T99:99:99Z broken timestamp\n",
		"invalid utf-8 \xff\xfe here\n",
		"<14>1 2025-01-02T03:04:05Z h app - - - " + long + "\n", // over max_message_bytes
		"27 <13>1 - - - - - - two\nlines",                       // octet counting keeps the newline
		"5 apples were eaten\n",                                 // a number and a space, but no frame
		"<13>Jan  2 03:04:05 host tag: after the bad ones\n",
	}
	for _, f := range frames {
		conn.Write([]byte(f))
	}
	conn.Close()
	es := sink.Wait(t, len(frames))
	if len(es) != len(frames) {
		t.Fatalf("%d entries for %d messages", len(es), len(frames))
	}
	if es[0].Payload != "just some text, no syslog at all" || es[0].Metadata["syslog.parse_error"] == "" || es[0].Source != "syslog" || es[0].LogLevel != 7 {
		t.Errorf("plain text: %+v", es[0])
	}
	if es[1].Payload != "<999>1 bad priority" || es[1].Metadata["syslog.parse_error"] == "" {
		t.Errorf("bad priority: %+v", es[1])
	}
	if !strings.Contains(es[2].Payload, "broken timestamp") {
		t.Errorf("broken timestamp: %+v", es[2])
	}
	if es[3].Payload != "invalid utf-8 \ufffd\ufffd here" {
		t.Errorf("invalid UTF-8: %q", es[3].Payload)
	}
	if es[4].Metadata["truncated"] == "" || len(es[4].Payload) > 1024 {
		t.Errorf("oversize: %d bytes, metadata %v", len(es[4].Payload), es[4].Metadata)
	}
	if es[5].Payload != "two\nlines" {
		t.Errorf("octet-counted with a newline: %q", es[5].Payload)
	}
	if es[6].Payload != "5 apples were eaten" {
		t.Errorf("plain line starting with a number: %q", es[6].Payload)
	}
	if es[7].Payload != "after the bad ones" || es[7].Source != "tag" {
		t.Errorf("after: %+v", es[7])
	}
	if got := in.unparsed.Load(); got < 2 {
		t.Errorf("messages_unparsed = %d", got)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	in, sink := start(t, "tcp://127.0.0.1:0", func(c *Config) {
		c.TLS = config.TLSConfig{CertFile: certFile, KeyFile: keyFile}
	})
	h, p := hostPort(t, in)
	conn, err := tls.Dial("tcp", net.JoinHostPort(h, p), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	msg := "<165>1 2025-01-02T03:04:05Z host secure - - - over tls"
	fmt.Fprintf(conn, "%d %s", len(msg), msg)
	conn.Close()
	if e := sink.Wait(t, 1)[0]; e.Payload != "over tls" || e.Source != "secure" {
		t.Fatalf("entry %+v", e)
	}
	// Plain text to a TLS port is refused, not read as messages.
	plain, err := net.Dial("tcp", net.JoinHostPort(h, p))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(plain, "<13>1 - - - - - - plain\n")
	plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	plain.Read(make([]byte, 10))
	plain.Close()
	time.Sleep(50 * time.Millisecond)
	if n := len(sink.Entries(t)); n != 1 {
		t.Fatalf("%d entries after a plain-text client", n)
	}
}

func selfSigned(t *testing.T, dir string) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return cf, kf
}

// A reload that moves the address opens the new socket and closes the
// old; one that changes only the source applies to the next message.
func TestReload(t *testing.T) {
	in, sink := start(t, "udp://127.0.0.1:0", nil)
	h, p := hostPort(t, in)
	send := func(port, text string) {
		conn, err := net.Dial("udp", net.JoinHostPort(h, port))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "<13>1 - - app - - - %s", text)
	}
	send(p, "before")
	sink.Wait(t, 1)

	c := Factory{}.NewConfig().(*Config)
	c.Address, c.Source = "udp://127.0.0.1:0", "fixed" // the same address as configured
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	apply, _, err := in.Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	apply()
	send(p, "same socket")
	if e := sink.Wait(t, 2)[1]; e.Source != "fixed" || e.Payload != "same socket" {
		t.Fatalf("after reload: %+v", e)
	}

	c2 := *c
	c2.Address = "tcp://127.0.0.1:0"
	if err := c2.Validate(); err != nil {
		t.Fatal(err)
	}
	apply, _, err = in.Prepare(&c2)
	if err != nil {
		t.Fatal(err)
	}
	apply()
	if u := in.Status().Listeners[0]; !strings.HasPrefix(u, "tcp://") {
		t.Fatalf("listener %s", u)
	}
	_, tp := hostPort(t, in)
	conn, err := net.Dial("tcp", net.JoinHostPort(h, tp))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "<13>1 - - app - - - moved\n")
	conn.Close()
	if e := sink.Wait(t, 3)[2]; e.Payload != "moved" {
		t.Fatalf("after moving: %+v", e)
	}
}

// While the queue refuses, the input holds what it read and appends it
// once there is room: nothing is skipped.
func TestQueueFullPausesNotDrops(t *testing.T) {
	in, sink := start(t, "tcp://127.0.0.1:0", nil)
	sink.Refuse.Store(true)
	conn := dialInput(t, in, "tcp")
	for i := range 50 {
		fmt.Fprintf(conn, "<13>1 - - app - - - line %d\n", i)
	}
	deadline := time.Now().Add(5 * time.Second)
	for in.pauses.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if in.pauses.Load() == 0 {
		t.Fatal("the input did not pause")
	}
	sink.Refuse.Store(false)
	conn.Close()
	es := sink.Wait(t, 50)
	for i, e := range es {
		if e.Payload != fmt.Sprintf("line %d", i) {
			t.Fatalf("entry %d is %q", i, e.Payload)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		addr, want string
		tweak      func(*Config)
	}{
		{"", "address: is required", nil},
		{"http://x:1", "scheme must be udp, tcp or unix", nil},
		{"udp://127.0.0.1", "needs a host and port", nil},
		{"unix://", "needs a path", nil},
		{"udp://127.0.0.1:5514", "tls: TLS is for tcp:// addresses only", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "a", "b" }},
		{"udp://127.0.0.1:5514", "timezone", func(c *Config) { c.Timezone = "Mars/Olympus" }},
		{"udp://127.0.0.1:5514", "max_message_bytes", func(c *Config) { c.MaxMessageBytes = 10 }},
		{"udp://127.0.0.1:5514", "receive_buffer", func(c *Config) { c.ReceiveBuffer = 100 }},
	} {
		c := defaults()
		c.Address = tc.addr
		if tc.tweak != nil {
			tc.tweak(c)
		}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.addr, err, tc.want)
		}
	}
}

func TestRFC3164YearRollover(t *testing.T) {
	c := defaults()
	c.Address = "udp://127.0.0.1:1"
	c.Timezone = "UTC"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := newParserAt(c, func() time.Time { return time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC) })
	f, ok := p.parse([]byte("<13>Dec 31 23:59:58 host app: last of the year"), "")
	if !ok {
		t.Fatalf("not parsed: %+v", f)
	}
	if want := time.Date(2025, 12, 31, 23, 59, 58, 0, time.UTC); !f.Time.Equal(want) {
		t.Fatalf("December message read in January dated %s", f.Time)
	}
}

// Shutdown with a client still connected appends what it sent and
// returns without waiting for the client to leave.
func TestShutdownWithOpenConnection(t *testing.T) {
	in, sink := start(t, "tcp://127.0.0.1:0", nil)
	conn := dialInput(t, in, "tcp")
	fmt.Fprintf(conn, "<13>1 - - app - - - still connected\n")
	sink.Wait(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if in.connsOpen.Load() != 0 {
		t.Fatalf("%d connections open after shutdown", in.connsOpen.Load())
	}
}

// TestUDPBatchesKeepEveryDatagram: datagrams read many at a time arrive
// each once, in each sender's order, with that sender's address, and one
// over max_message_bytes is cut and marked.
func TestUDPBatchesKeepEveryDatagram(t *testing.T) {
	in, sink := start(t, "udp://127.0.0.1:0", func(c *Config) { c.MaxMessageBytes = 1024 })
	h, p := hostPort(t, in)
	const perSender = 1000
	var senders [2]*net.UDPConn
	for i := range senders {
		c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP(h), Port: atoi(t, p)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		senders[i] = c
	}
	for n := range perSender { // interleaved, faster than one read each
		for i, c := range senders {
			if _, err := fmt.Fprintf(c, "<13>1 - - app%d - - - line %d", i, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	long := "<13>1 - - big - - - " + strings.Repeat("x", 2000)
	if _, err := senders[0].Write([]byte(long)); err != nil {
		t.Fatal(err)
	}
	es := sink.Wait(t, 2*perSender+1)
	next := map[string]int{}
	for _, e := range es {
		if e.Source == "big" {
			if len(e.Payload) > 1024 || e.Metadata["truncated"] == "" {
				t.Errorf("long datagram: %d bytes, metadata %v", len(e.Payload), e.Metadata)
			}
			continue
		}
		i := int(e.Source[len("app")] - '0')
		if want := fmt.Sprintf("line %d", next[e.Source]); e.Payload != want {
			t.Fatalf("from %s: %q, want %q", e.Source, e.Payload, want)
		}
		if e.Metadata["syslog.peer"] != senders[i].LocalAddr().String() {
			t.Fatalf("peer %q, want %s", e.Metadata["syslog.peer"], senders[i].LocalAddr())
		}
		next[e.Source]++
	}
	if next["app0"] != perSender || next["app1"] != perSender {
		t.Fatalf("arrived %v", next)
	}
	if d := in.Status().Figures["kernel_drops"]; d != 0 {
		t.Errorf("kernel_drops %d with a buffer large enough", d)
	}
}

// TestUDPKernelDropsCounted: when the queue is full the input stops
// reading, the socket's buffer fills, and what the kernel then drops is
// counted as kernel_drops.
func TestUDPKernelDropsCounted(t *testing.T) {
	if _, err := os.Stat("/proc/net/udp"); err != nil {
		t.Skip("no /proc/net/udp here: kernel drops are counted on Linux")
	}
	in, sink := start(t, "udp://127.0.0.1:0", func(c *Config) { c.ReceiveBuffer = 4 << 10 })
	sink.Refuse.Store(true)
	c := dialInput(t, in, "udp")
	for n := range 500 {
		fmt.Fprintf(c, "<13>1 - - app - - - line %d %s", n, strings.Repeat("x", 200))
	}
	deadline := time.Now().Add(5 * time.Second)
	for in.Status().Figures["kernel_drops"] == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	drops := in.Status().Figures["kernel_drops"]
	if drops == 0 {
		t.Fatal("no kernel drops counted with a 4 KiB buffer and the input paused")
	}
	sink.Refuse.Store(false)
	// Everything not dropped arrives: 500 in all.
	deadline = time.Now().Add(5 * time.Second)
	for int64(len(sink.Entries(t)))+in.Status().Figures["kernel_drops"] < 500 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got, d := len(sink.Entries(t)), in.Status().Figures["kernel_drops"]; int64(got)+d != 500 {
		t.Fatalf("%d arrived and %d dropped of 500", got, d)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUDPWildcardAndIPv6: batched reads work on a wildcard address (a
// dual-stack socket where the system has one) and on IPv6, with the
// sender's address as the peer.
func TestUDPWildcardAndIPv6(t *testing.T) {
	for _, tc := range []struct{ listen, send string }{
		{"udp://0.0.0.0:0", "127.0.0.1"},
		{"udp://[::1]:0", "::1"},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			if tc.send == "::1" {
				if c, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
					t.Skip("no IPv6 loopback here")
				} else {
					c.Close()
				}
			}
			in, sink := start(t, tc.listen, nil)
			_, p := hostPort(t, in)
			c, err := net.Dial("udp", net.JoinHostPort(tc.send, p))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprint(c, "<13>1 - - app - - - over "+tc.send)
			e := sink.Wait(t, 1)[0]
			if e.Payload != "over "+tc.send || e.Metadata["syslog.peer"] != c.LocalAddr().String() {
				t.Fatalf("entry %q from %q, want the peer %s", e.Payload, e.Metadata["syslog.peer"], c.LocalAddr())
			}
		})
	}
}

// TestUDPShutdownWhileIdle: Shutdown of a UDP input whose reader waits for
// a datagram (with no timeout, nothing pending) returns at once, appends
// what was read and closes the socket, so that its port is free again.
func TestUDPShutdownWhileIdle(t *testing.T) {
	in, sink := start(t, "udp://127.0.0.1:0", nil)
	c := dialInput(t, in, "udp")
	fmt.Fprint(c, "<13>1 - - app - - - before shutdown")
	sink.Wait(t, 1)
	time.Sleep(3 * flushInterval) // past the flush: the reader waits with no timeout
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	began := time.Now()
	if err := in.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("shutdown took %s with the reader idle", took)
	}
	again, err := net.ListenPacket("udp", c.RemoteAddr().String())
	if err != nil {
		t.Fatalf("the port is still taken after shutdown: %v", err)
	}
	again.Close()
}

// TestUDPBurstOverManyBatches: a burst of many batches' worth of
// datagrams, sent faster than one read each while the reader pauses to
// gather, arrives whole and in order, and the entries of a trickle after it
// are appended without waiting for more.
func TestUDPBurstOverManyBatches(t *testing.T) {
	in, sink := start(t, "udp://127.0.0.1:0", nil)
	c := dialInput(t, in, "udp")
	const burst = 20 * 64 // twenty batches
	for n := range burst {
		if _, err := fmt.Fprintf(c, "<13>1 - - app - - - line %d", n); err != nil {
			t.Fatal(err)
		}
	}
	es := sink.Wait(t, burst)
	for n, e := range es {
		if want := fmt.Sprintf("line %d", n); e.Payload != want {
			t.Fatalf("entry %d is %q, want %q", n, e.Payload, want)
		}
	}
	for n := range 3 { // one at a time: each arrives on its own
		fmt.Fprintf(c, "<13>1 - - app - - - trickle %d", n)
		if e := sink.Wait(t, burst+n+1)[burst+n]; e.Payload != fmt.Sprintf("trickle %d", n) {
			t.Fatalf("trickle %d: %q", n, e.Payload)
		}
	}
	if d := in.Status().Figures["kernel_drops"]; d != 0 {
		t.Errorf("kernel_drops %d with a buffer large enough", d)
	}
}
