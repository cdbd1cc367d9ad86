package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logflux/agent/internal/record"
)

// brokerSoak kills the real agent with SIGKILL at random moments while a
// client streams flushed entries into it (killSoak), then runs it once
// more until read() shows every flushed entry, and reports what read()
// found: how many times each entry number arrived.
func brokerSoak(t *testing.T, output string, read func() map[int]int) (flushed map[int]bool, seen map[int]int) {
	dir := t.TempDir()
	config := filepath.Join(dir, "agent.yaml")
	yaml := "limits:\n  max_line_bytes: 64KiB\nqueue:\n  max_bytes: 4MiB\n  when_full: block\noutputs:\n" + output
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", config, "--admin-address", "off"}
	res := killSoak(t, dir, 6*time.Second, 0, args...)
	flushed, kills := res.flushed, res.kills
	if kills == 0 || len(flushed) == 0 {
		t.Fatalf("the test did nothing: kills=%d flushed=%d", kills, len(flushed))
	}
	p := startAgent(t, dir, args...)
	deadline := time.Now().Add(40 * time.Second)
	for {
		seen = read()
		missing := 0
		for n := range flushed {
			if seen[n] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			p.stop(t)
			t.Fatalf("kills=%d: %d of %d flushed entries never arrived\n%s", kills, missing, len(flushed), p.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.stop(t)
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	t.Logf("kills=%d entries_flushed=%d entries_arrived=%d duplicates=%d", kills, len(flushed), len(seen), dups)
	return flushed, seen
}

// entryNumber reads n from a record of "k-<n>".
func entryNumber(t *testing.T, rec []byte) int {
	e, err := record.Parse(rec)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(e.Payload, "k-"))
	if err != nil {
		t.Fatalf("unexpected entry %s", rec)
	}
	return n
}

// TestKill9KafkaNeverLosesFlushedEntries: with the agent killed again and
// again, every entry whose flush was answered reaches Kafka. Entries in
// flight at a kill are produced again by the next run (a new producer
// session), so duplicates are possible and only counted.
func TestKill9KafkaNeverLosesFlushedEntries(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("logs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[int]int{}
	read := func() map[int]int {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "logs")
		if err != nil {
			t.Fatal(err)
		}
		want, got := int64(0), int64(0)
		ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
		for _, c := range seen {
			got += int64(c)
		}
		for got < want && ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { seen[entryNumber(t, r.Value)]++; got++ })
		}
		return seen
	}
	brokerSoak(t, fmt.Sprintf("  - type: kafka\n    brokers: [%s]\n    topic: logs\n    key: source\n", strings.Join(brokers, ", ")), read)
}

// TestKill9NATSNeverLosesOrDuplicates: with the agent killed again and
// again, every flushed entry reaches the stream, and the stream holds each
// entry once: what a killed agent publishes again carries the same
// Nats-Msg-Id, which the server drops within its duplicate window.
func TestKill9NATSNeverLosesOrDuplicates(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	read := func() map[int]int {
		seen := map[int]int{}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, "LOGS")
		if err != nil {
			return seen // not created yet
		}
		info, err := st.Info(ctx)
		if err != nil || info.State.Msgs == 0 {
			return seen
		}
		cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for got := uint64(0); got < info.State.Msgs && ctx.Err() == nil; {
			batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for m := range batch.Messages() {
				seen[entryNumber(t, m.Data())]++
				got++
			}
		}
		return seen
	}
	_, seen := brokerSoak(t, fmt.Sprintf("  - type: nats\n    url: %s\n    subject: logs.{source}\n    stream: LOGS\n    create_stream: {subjects: [\"logs.>\"]}\n", s.ClientURL()), read)
	for n, c := range seen {
		if c > 1 {
			t.Fatalf("entry k-%d is %d times in the stream", n, c)
		}
	}
}
