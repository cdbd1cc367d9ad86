package kafka_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output/kafka"
	"github.com/logflux/agent/internal/output/outputtest"
	"github.com/logflux/agent/internal/output/remote"
	"github.com/logflux/agent/internal/record"
)

func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(3, "logs")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type built struct {
	*kafka.Output
	metrics *component.Metrics
}

func newOutput(t testing.TB, brokers []string, edit func(*kafka.Config)) built {
	t.Helper()
	cfg := kafka.Factory{}.NewConfig().(*kafka.Config)
	cfg.Brokers = brokers
	cfg.Retry = remote.Retry{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := &component.Metrics{}
	out, err := kafka.New(cfg, component.Settings{Name: "kafka", Metrics: m})
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

// consume reads every record the topics hold, however many that is (their
// end offsets say), so that duplicates are counted too.
func consume(t testing.TB, brokers []string, topics ...string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	var got []*kgo.Record
	for int64(len(got)) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(got), want)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	return got
}

// checkOnce fails unless recs hold each of want exactly once.
func checkOnce(t testing.TB, got []*kgo.Record, want [][]byte) {
	t.Helper()
	ids := make([]string, len(got))
	for i, r := range got {
		id, err := record.ID(r.Value)
		if err != nil {
			t.Fatalf("record %q: %v", r.Value, err)
		}
		ids[i] = id
	}
	outputtest.CheckOnce(t, ids, want)
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return "<none>"
}

// TestTopicsKeysAndHeaders: each entry lands once in its source's topic,
// as the normalised record, keyed by its source, with its headers, and a
// source's entries stay in order.
func TestTopicsKeysAndHeaders(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(3, "logs.web", "logs.db_main"))
	out := newOutput(t, c.ListenAddrs(), func(cfg *kafka.Config) {
		cfg.Topic, cfg.Key, cfg.Compression = "logs.{source}", "source", "zstd"
		cfg.Batch.MaxEntries = 50
	})
	var recs [][]byte
	for i := range 300 {
		src := []string{"web", "db main"}[i%2]
		recs = append(recs, outputtest.Record(t, outputtest.Entry{Payload: fmt.Sprintf("entry %d", i), Source: src, Level: 1 + i%8, EntryType: 1 + i%5}))
	}
	res := outputtest.Run(t, out, recs, 25, 30*time.Second)
	got := consume(t, c.ListenAddrs(), "logs.web", "logs.db_main")
	checkOnce(t, got, recs)
	byID := map[string][]byte{}
	for _, r := range recs {
		id, _ := record.ID(r)
		byID[id] = r
	}
	last := map[string]int{}
	for _, r := range got {
		e, _ := record.Parse(r.Value)
		if string(r.Value) != string(byID[e.ID]) {
			t.Fatalf("value %s, want the record %s", r.Value, byID[e.ID])
		}
		if want := "logs." + strings.ReplaceAll(e.Source, " ", "_"); r.Topic != want {
			t.Errorf("entry of %q in topic %s, want %s", e.Source, r.Topic, want)
		}
		if string(r.Key) != e.Source || header(r, "source") != e.Source ||
			header(r, "entryType") != strconv.Itoa(e.EntryType) || header(r, "logLevel") != strconv.Itoa(e.LogLevel) {
			t.Errorf("key %q headers %v for %+v", r.Key, r.Headers, e)
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(e.Payload, "entry "))
		if n < last[e.Source] {
			t.Errorf("%s: entry %d after entry %d", e.Source, n, last[e.Source])
		}
		last[e.Source] = n
	}
	if s := res.Dispatcher.Counters.Sent.Load(); s != 300 {
		t.Errorf("sent counter %d, want 300", s)
	}
}

// TestFaults: broker errors, leader moves and acknowledgements that come
// too late: every entry arrives exactly once, none is dead-lettered.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(t *testing.T, c *kfake.Cluster, stop <-chan struct{}, wg *sync.WaitGroup)
		check  func(t *testing.T, out built, res *outputtest.Result)
	}{
		{name: "broker errors", inject: func(t *testing.T, c *kfake.Cluster, _ <-chan struct{}, _ *sync.WaitGroup) {
			c.Fault(
				kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotLeaderForPartition, Count: 4},
				// Applied by the broker, then answered with an error: the
				// retry is a duplicate the idempotent producer drops.
				kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: 4},
				kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicasAfterAppend, Count: 3},
			)
		}},
		{name: "lost connections", inject: func(t *testing.T, c *kfake.Cluster, _ <-chan struct{}, _ *sync.WaitGroup) {
			var n atomic.Int32
			c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if n.Add(1) > 5 {
					c.DropControl()
					return nil, nil, false
				}
				return nil, errors.New("connection dropped"), true
			})
		}},
		{name: "leader moves", inject: func(t *testing.T, c *kfake.Cluster, stop <-chan struct{}, wg *sync.WaitGroup) {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(15 * time.Millisecond):
						c.ShufflePartitionLeaders()
					}
				}
			})
		}},
		{name: "late acknowledgements", inject: func(t *testing.T, c *kfake.Cluster, _ <-chan struct{}, _ *sync.WaitGroup) {
			var n atomic.Int32
			c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if n.Add(1) > 3 {
					c.DropControl()
					return nil, nil, false
				}
				// Longer than the output's timeout: the Write gives up,
				// the record stays in flight and is answered later.
				c.SleepControl(func() { time.Sleep(600 * time.Millisecond) })
				return nil, nil, false
			})
		}, check: func(t *testing.T, out built, res *outputtest.Result) {
			if n := outputtest.Sample(out.metrics, "ack_timeouts"); n < 1 {
				t.Errorf("ack_timeouts %d, want at least 1", n)
			}
			if res.Dispatcher.Counters.Failed.Load() < 1 {
				t.Error("no failed attempt counted")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			endFaults := sync.OnceFunc(func() { close(stop); wg.Wait() })
			defer endFaults()
			tc.inject(t, c, stop, &wg)
			out := newOutput(t, c.ListenAddrs(), func(cfg *kafka.Config) {
				cfg.Batch.MaxEntries = 40
				cfg.Timeout = 200 * time.Millisecond
			})
			recs := outputtest.Records(t, 400, "app")
			res := outputtest.Run(t, out, recs, 20, 60*time.Second)
			// The topic is read back on a still cluster: while leaders
			// kept moving the check's consumer was seen, under load, to
			// read records twice and stop at the end offsets' count
			// ("400 entries sent, 218 distinct at the backend: 182 lost,
			// 218 duplicates").
			endFaults()
			checkOnce(t, consume(t, c.ListenAddrs(), "logs"), recs)
			if d := res.Dispatcher.Counters.DeadLetter.Load(); d != 0 {
				t.Errorf("%d dead letters", d)
			}
			if s := res.Dispatcher.Counters.Sent.Load(); s != 400 {
				t.Errorf("sent counter %d, want 400", s)
			}
			if tc.check != nil {
				tc.check(t, out, res)
			}
		})
	}
}

// TestPositionMovesOnlyAfterAck: while the brokers answer nothing, the
// output's queue position stays where it was; when they are back every
// entry arrives once.
func TestPositionMovesOnlyAfterAck(t *testing.T) {
	c := newCluster(t)
	var down atomic.Bool
	down.Store(true)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if down.Load() {
			return nil, errors.New("broker down"), true
		}
		return nil, nil, false
	})
	out := newOutput(t, c.ListenAddrs(), func(cfg *kafka.Config) {
		cfg.Batch.MaxEntries = 50
		cfg.Timeout = 150 * time.Millisecond
	})
	recs := outputtest.Records(t, 200, "app")
	run := outputtest.Start(t, out, recs, 10, 60*time.Second)
	d := run.Dispatcher
	outputtest.Eventually(t, 20*time.Second, "three failed attempts", func() bool { return d.Counters.Failed.Load() >= 3 })
	if st := run.Queue.Stats(); st.Records != 200 || d.Counters.Sent.Load() != 0 {
		t.Fatalf("while the brokers are down: %d records queued (want 200), %d counted sent (want 0)", st.Records, d.Counters.Sent.Load())
	}
	down.Store(false)
	run.Wait(t)
	checkOnce(t, consume(t, c.ListenAddrs(), "logs"), recs)
}

// TestConnectionRefusedAtStart: no broker listens yet; entries wait in the
// queue and all arrive once one does.
func TestConnectionRefusedAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	out := newOutput(t, []string{addr}, func(cfg *kafka.Config) { cfg.Timeout = 200 * time.Millisecond })
	recs := outputtest.Records(t, 100, "app")
	run := outputtest.Start(t, out, recs, 10, 60*time.Second)
	outputtest.Eventually(t, 20*time.Second, "two failed attempts", func() bool { return run.Dispatcher.Counters.Failed.Load() >= 2 })
	if n := outputtest.Sample(out.metrics, "broker_connect_errors"); n < 1 {
		t.Errorf("broker_connect_errors %d, want at least 1", n)
	}
	c := newCluster(t, kfake.NumBrokers(1), kfake.Ports(port))
	run.Wait(t)
	checkOnce(t, consume(t, c.ListenAddrs(), "logs"), recs)
}

// TestTooLargeIsDeadLettered: an entry larger than max_message_bytes goes
// to the dead letters with the broker's reason; the rest is delivered.
func TestTooLargeIsDeadLettered(t *testing.T) {
	c := newCluster(t)
	out := newOutput(t, c.ListenAddrs(), func(cfg *kafka.Config) { cfg.MaxMessageBytes = 4096 })
	recs := outputtest.Records(t, 20, "app")
	big := outputtest.Record(t, outputtest.Entry{Payload: strings.Repeat("x", 8000)})
	recs = append(recs[:10:10], append([][]byte{big}, recs[10:]...)...)
	res := outputtest.Run(t, out, recs, 21, 30*time.Second)
	if ids := res.DeadLetters.IDs(t); len(ids) != 1 || ids[0] != outputtest.IDs(t, [][]byte{big})[0] {
		t.Fatalf("dead letters %v, want the large entry", ids)
	}
	if !strings.Contains(res.DeadLetters.Reasons[0], "MESSAGE_TOO_LARGE") {
		t.Errorf("reason %q", res.DeadLetters.Reasons[0])
	}
	checkOnce(t, consume(t, c.ListenAddrs(), "logs"), append(recs[:10:10], recs[11:]...))
	if n := outputtest.Sample(out.metrics, "refused_records"); n != 1 {
		t.Errorf("refused_records %d, want 1", n)
	}
}

// TestSASLAndTLS: SCRAM and PLAIN with the password from a file, over
// TLS; a wrong password delivers nothing and the failure names the broker.
func TestSASLAndTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, _, serverTLS := outputtest.SelfSigned(t, dir)
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			c := newCluster(t, kfake.EnableSASL(), kfake.Superuser(mech, "ana", "s3cret"), kfake.TLS(serverTLS))
			out := newOutput(t, c.ListenAddrs(), func(cfg *kafka.Config) {
				cfg.SASL = kafka.SASL{Mechanism: mech, Username: "ana", PasswordFile: pwFile}
				cfg.TLS.CAFile = certFile
			})
			recs := outputtest.Records(t, 30, "app")
			outputtest.Run(t, out, recs, 10, 30*time.Second)
			admin, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DialTLSConfig(serverTLSClient(t, certFile)),
				kgo.SASL(saslFor(mech)), kgo.ConsumeTopics("logs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var got []*kgo.Record
			for len(got) < 30 && ctx.Err() == nil {
				admin.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r) })
			}
			checkOnce(t, got, recs)

			wrong := newOutput(t, c.ListenAddrs(), func(cfg *kafka.Config) {
				cfg.SASL = kafka.SASL{Mechanism: mech, Username: "ana", Password: "wrong"}
				cfg.TLS.CAFile = certFile
				cfg.Timeout = 500 * time.Millisecond
			})
			err = wrong.Write(context.Background(), outputtest.Records(t, 1, "app"))
			// kfake hangs up on a failed authentication: what the message
			// can name is the broker's connection failure.
			if err == nil || !strings.Contains(err.Error(), "last broker error") {
				t.Errorf("Write with a wrong password: %v; want a failure naming the broker's error", err)
			}
		})
	}
}

// TestValidate: every problem at once, with its key.
func TestValidate(t *testing.T) {
	cfg := kafka.Factory{}.NewConfig().(*kafka.Config)
	cfg.Brokers = []string{"no-port"}
	cfg.Topic, cfg.Key, cfg.Compression, cfg.Acks = "logs.{host}", "host", "brotli", "none"
	cfg.SASL = kafka.SASL{Mechanism: "GSSAPI"}
	err := cfg.Validate()
	for _, want := range []string{"brokers[0]", "topic: {host}", "key", "compression", "acks", "sasl.mechanism"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want a problem with %s", err, want)
		}
	}
	cfg = kafka.Factory{}.NewConfig().(*kafka.Config)
	cfg.Brokers = []string{"127.0.0.1:9092"}
	cfg.SASL = kafka.SASL{Mechanism: "PLAIN", Password: "a", PasswordFile: "/nonexistent"}
	err = cfg.Validate()
	for _, want := range []string{"sasl.username", "sasl.password"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want a problem with %s", err, want)
		}
	}
	cfg.SASL = kafka.SASL{}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the defaults with a broker: %v", err)
	}
}

func serverTLSClient(t testing.TB, caFile string) *tls.Config {
	t.Helper()
	tc, err := (&remote.TLS{CAFile: caFile}).Config()
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func saslFor(mech string) sasl.Mechanism {
	switch mech {
	case "PLAIN":
		return plain.Auth{User: "ana", Pass: "s3cret"}.AsMechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: "ana", Pass: "s3cret"}.AsSha512Mechanism()
	}
	return scram.Auth{User: "ana", Pass: "s3cret"}.AsSha256Mechanism()
}
