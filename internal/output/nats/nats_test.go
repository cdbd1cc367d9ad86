package nats_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
	natsout "github.com/logflux/agent/internal/output/nats"
	"github.com/logflux/agent/internal/output/outputtest"
	"github.com/logflux/agent/internal/output/remote"
	"github.com/logflux/agent/internal/record"
)

// runServer starts an embedded nats-server with JetStream keeping its data
// in dir, on port (0: any free one), and stops it when the test ends.
func runServer(t testing.TB, dir string, port int, edit func(*server.Options)) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	opts := &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true}
	if edit != nil {
		edit(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func port(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

type built struct {
	*natsout.Output
	metrics *component.Metrics
}

func newOutput(t testing.TB, url string, edit func(*natsout.Config)) built {
	t.Helper()
	cfg := natsout.Factory{}.NewConfig().(*natsout.Config)
	cfg.URL = natsout.URLs{url}
	cfg.CreateStream.Subjects = []string{"logs.>"}
	cfg.Retry = remote.Retry{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := &component.Metrics{}
	out, err := natsout.New(cfg, component.Settings{Name: "nats", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out.Close(ctx)
	})
	return built{out, m}
}

// streamMsgs reads every message of the stream.
func streamMsgs(t testing.TB, url, stream string, opts ...nats.Option) []*jetstream.RawStreamMsg {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// checkOnce fails unless the messages hold each of want exactly once, each
// with its id as Nats-Msg-Id.
func checkOnce(t testing.TB, msgs []*jetstream.RawStreamMsg, want [][]byte) {
	t.Helper()
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		id, err := record.ID(m.Data)
		if err != nil {
			t.Fatalf("message %q: %v", m.Data, err)
		}
		if got := m.Header.Get(jetstream.MsgIDHeader); got != id {
			t.Fatalf("Nats-Msg-Id %q on the entry %s", got, id)
		}
		ids[i] = id
	}
	outputtest.CheckOnce(t, ids, want)
}

// TestSubjectsAndStream: the stream is created, each entry is one message
// on its source's subject, as the normalised record, with its id.
func TestSubjectsAndStream(t *testing.T) {
	s := runServer(t, t.TempDir(), 0, nil)
	out := newOutput(t, s.ClientURL(), nil)
	var recs [][]byte
	for i := range 200 {
		recs = append(recs, outputtest.Record(t, outputtest.Entry{Payload: fmt.Sprintf("entry %d", i), Source: []string{"web", "db.main x"}[i%2]}))
	}
	res := outputtest.Run(t, out, recs, 20, 30*time.Second)
	msgs := streamMsgs(t, s.ClientURL(), "LOGS")
	checkOnce(t, msgs, recs)
	for i, m := range msgs {
		e, _ := record.Parse(m.Data)
		if want := "logs." + map[string]string{"web": "web", "db.main x": "db_main_x"}[e.Source]; m.Subject != want {
			t.Fatalf("message %d on %s, want %s", i, m.Subject, want)
		}
		if string(m.Data) != string(recs[i]) {
			t.Fatalf("message %d is %s, want %s", i, m.Data, recs[i])
		}
	}
	if n := res.Dispatcher.Counters.Sent.Load(); n != 200 {
		t.Errorf("sent counter %d", n)
	}
}

// TestReplayIsNoDuplicate: a second output (an agent restarted before it
// committed its position) publishes the same batch again: the stream keeps
// one of each, and the output counts the duplicates the server dropped.
func TestReplayIsNoDuplicate(t *testing.T) {
	s := runServer(t, t.TempDir(), 0, nil)
	recs := outputtest.Records(t, 150, "app")
	outputtest.Run(t, newOutput(t, s.ClientURL(), nil), recs, 50, 30*time.Second)
	again := newOutput(t, s.ClientURL(), nil)
	outputtest.Run(t, again, recs, 50, 30*time.Second)
	checkOnce(t, streamMsgs(t, s.ClientURL(), "LOGS"), recs)
	if n := outputtest.Sample(again.metrics, "duplicates"); n != 150 {
		t.Errorf("duplicates %d, want 150", n)
	}
}

// TestServerDownMidStream: the server stops mid-stream and comes back on
// the same port and store: nothing lost, no duplicate in the stream.
func TestServerDownMidStream(t *testing.T) {
	dir := t.TempDir()
	s := runServer(t, dir, 0, nil)
	p := port(s)
	out := newOutput(t, s.ClientURL(), func(c *natsout.Config) {
		c.Batch.MaxEntries = 20
		c.Timeout = 300 * time.Millisecond
	})
	recs := outputtest.Records(t, 2000, "app")
	run := outputtest.Start(t, out, recs, 20, 60*time.Second)
	outputtest.Eventually(t, 20*time.Second, "some entries sent", func() bool { return run.Dispatcher.Counters.Sent.Load() > 0 })
	s.Shutdown()
	s.WaitForShutdown()
	outputtest.Eventually(t, 20*time.Second, "two failed attempts", func() bool { return run.Dispatcher.Counters.Failed.Load() >= 2 })
	if st := run.Queue.Stats(); st.Records == 0 {
		t.Fatal("the queue drained while the server was down")
	}
	s = runServer(t, dir, p, nil)
	run.Wait(t)
	checkOnce(t, streamMsgs(t, s.ClientURL(), "LOGS"), recs)
}

// TestMissingStream: without create_stream, a missing stream is a clear
// retried failure; once someone creates it, everything arrives.
func TestMissingStream(t *testing.T) {
	s := runServer(t, t.TempDir(), 0, nil)
	out := newOutput(t, s.ClientURL(), func(c *natsout.Config) { c.CreateStream.Subjects = nil })
	recs := outputtest.Records(t, 50, "app")
	err := out.Write(context.Background(), recs)
	if err == nil || !strings.Contains(err.Error(), "stream LOGS does not exist") {
		t.Fatalf("Write without the stream: %v", err)
	}
	run := outputtest.Start(t, out, recs, 10, 30*time.Second)
	outputtest.Eventually(t, 10*time.Second, "a failed attempt", func() bool { return run.Dispatcher.Counters.Failed.Load() >= 1 })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "LOGS", Subjects: []string{"logs.>"}}); err != nil {
		t.Fatal(err)
	}
	run.Wait(t)
	checkOnce(t, streamMsgs(t, s.ClientURL(), "LOGS"), recs)
}

// TestStreamDeletedMidway: the stream disappears after the output found
// it. The server answers "no responders" for every message: the Write
// fails (retryable, nothing delivered), and once the stream is back the
// same batch arrives, once.
func TestStreamDeletedMidway(t *testing.T) {
	s := runServer(t, t.TempDir(), 0, nil)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	create := func() {
		t.Helper()
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOGS", Subjects: []string{"logs.>"}}); err != nil {
			t.Fatal(err)
		}
	}
	create()
	out := newOutput(t, s.ClientURL(), func(c *natsout.Config) { c.CreateStream.Subjects = nil })
	first, second := outputtest.Records(t, 20, "app"), outputtest.Records(t, 30, "app")
	if err := out.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "LOGS"); err != nil {
		t.Fatal(err)
	}
	err = out.Write(ctx, second)
	if err == nil || output.IsPermanent(err) || !strings.Contains(err.Error(), "no responders") {
		t.Fatalf("Write without the stream: %v; want a retryable no-responders failure", err)
	}
	if n := outputtest.Sample(out.metrics, "ack_errors"); n != 30 {
		t.Errorf("ack_errors %d, want 30", n)
	}
	create()
	if err := out.Write(ctx, second); err != nil {
		t.Fatalf("Write once the stream is back: %v", err)
	}
	checkOnce(t, streamMsgs(t, s.ClientURL(), "LOGS"), second)
}

// TestConnectionRefusedAtStart: no server yet; entries wait, then arrive.
func TestConnectionRefusedAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	out := newOutput(t, fmt.Sprintf("nats://127.0.0.1:%d", p), nil)
	recs := outputtest.Records(t, 50, "app")
	if err := out.Write(context.Background(), recs); err == nil || !strings.Contains(err.Error(), "connecting to") {
		t.Fatalf("Write with no server: %v", err)
	}
	run := outputtest.Start(t, out, recs, 10, 30*time.Second)
	s := runServer(t, t.TempDir(), p, nil)
	run.Wait(t)
	checkOnce(t, streamMsgs(t, s.ClientURL(), "LOGS"), recs)
}

// TestTooLarge: an entry over the server's max_payload goes to the dead
// letters; the others arrive.
func TestTooLarge(t *testing.T) {
	s := runServer(t, t.TempDir(), 0, func(o *server.Options) { o.MaxPayload = 4096 })
	out := newOutput(t, s.ClientURL(), nil)
	recs := outputtest.Records(t, 10, "app")
	big := outputtest.Record(t, outputtest.Entry{Payload: strings.Repeat("x", 6000)})
	res := outputtest.Run(t, out, append(append([][]byte{}, recs...), big), 11, 30*time.Second)
	if ids := res.DeadLetters.IDs(t); len(ids) != 1 || !strings.Contains(res.DeadLetters.Reasons[0], "maximum payload") {
		t.Fatalf("dead letters %v %q, want the large entry", ids, res.DeadLetters.Reasons)
	}
	checkOnce(t, streamMsgs(t, s.ClientURL(), "LOGS"), recs)
}

// TestTokenOverTLS: a token from a file, over TLS with the server's CA.
func TestTokenOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, _, serverTLS := outputtest.SelfSigned(t, dir)
	s := runServer(t, t.TempDir(), 0, func(o *server.Options) {
		o.Authorization = "s3cret"
		o.TLS, o.TLSConfig, o.TLSTimeout = true, serverTLS, 5
	})
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	url := fmt.Sprintf("tls://127.0.0.1:%d", port(s))
	out := newOutput(t, url, func(c *natsout.Config) { c.TokenFile, c.TLS.CAFile = tok, certFile })
	recs := outputtest.Records(t, 20, "app")
	outputtest.Run(t, out, recs, 10, 30*time.Second)
	checkOnce(t, streamMsgs(t, url, "LOGS", nats.Token("s3cret"), nats.RootCAs(certFile)), recs)

	wrong := newOutput(t, url, func(c *natsout.Config) { c.Token, c.TLS.CAFile = "nope", certFile })
	if err := wrong.Write(context.Background(), recs); err == nil || !strings.Contains(err.Error(), "uthorization") {
		t.Errorf("Write with a wrong token: %v; want an authorization failure", err)
	}
}

// TestCoreNATS: jetstream: false publishes plain messages a subscriber
// sees (at most once: nothing is kept for subscribers that are not there).
func TestCoreNATS(t *testing.T) {
	s := runServer(t, t.TempDir(), 0, nil)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan *nats.Msg, 100)
	sub, err := nc.ChanSubscribe("logs.>", got)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()
	out := newOutput(t, s.ClientURL(), func(c *natsout.Config) { c.JetStream, c.CreateStream.Subjects = false, nil })
	recs := outputtest.Records(t, 30, "app")
	outputtest.Run(t, out, recs, 10, 30*time.Second)
	for i := range recs {
		select {
		case m := <-got:
			if string(m.Data) != string(recs[i]) || m.Subject != "logs.app" {
				t.Fatalf("message %d: %s on %s", i, m.Data, m.Subject)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("received %d of %d", i, len(recs))
		}
	}
}

// TestValidate: every problem at once, with its key.
func TestValidate(t *testing.T) {
	cfg := natsout.Factory{}.NewConfig().(*natsout.Config)
	cfg.URL = natsout.URLs{"http://x:1"}
	cfg.Subject, cfg.Stream = "logs.{host}", "a.b"
	cfg.CreateStream = natsout.CreateStream{Subjects: []string{"a..b"}, Storage: "disk"}
	cfg.Token, cfg.NkeyFile = "t", "/nonexistent"
	err := cfg.Validate()
	for _, want := range []string{"url[0]", "subject: {host}", "stream:", "create_stream.subjects[0]", "create_stream.duplicate_window", "create_stream.storage", "create_stream.replicas", "credentials_file", "nkey_file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want a problem with %s", err, want)
		}
	}
	cfg = natsout.Factory{}.NewConfig().(*natsout.Config)
	cfg.Subject = "events"
	cfg.CreateStream.Subjects = []string{"logs.>"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "takes the subject") {
		t.Errorf("a subject outside the stream's: %v", err)
	}
	if err := (natsout.Factory{}).NewConfig().Validate(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
}
