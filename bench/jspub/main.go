//go:build linux

// Command jspub publishes to an embedded nats-server's JetStream stream the
// way a client library does it alone, without the agent: n messages of
// 300 bytes in batches, each message with its own Nats-Msg-Id, through
// jetstream.PublishMsgAsync, waiting for every acknowledgement of a batch
// before the next (as the agent's dispatcher does). It prints, per chunk of
// messages, the rate and the process's CPU time (client and server), to
// tell whether a slowdown as the stream grows is the server's.
//
// Usage: go run ./bench/jspub [-n 1000000] [-every 100000] [-msgid=false] [-dup 2m] [-mem] [-async] [-cpuprofile file]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	n := flag.Int("n", 1_000_000, "messages to publish")
	batch := flag.Int("batch", 1000, "messages per batch (all acknowledged before the next)")
	every := flag.Int("every", 100_000, "print a line every this many messages")
	msgID := flag.Bool("msgid", true, "set Nats-Msg-Id on every message")
	dup := flag.Duration("dup", 2*time.Minute, "the stream's duplicate window")
	mem := flag.Bool("mem", false, "memory storage instead of file")
	async := flag.Bool("async", false, "the stream's persist_mode: async (acknowledged before written)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the publishing here (to split the server's CPU from the client's)")
	flag.Parse()
	if *n < 1 || *batch < 1 || *every < *batch {
		log.Fatal("need n >= 1, batch >= 1 and every >= batch")
	}

	dir, err := os.MkdirTemp("", "jspub")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		log.Fatal("nats-server did not start")
	}
	defer s.Shutdown()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	sc := jetstream.StreamConfig{Name: "LOGS", Subjects: []string{"logs.>"}, Duplicates: *dup, Storage: jetstream.FileStorage}
	if *mem {
		sc.Storage = jetstream.MemoryStorage
	}
	if *async {
		sc.PersistMode = jetstream.AsyncPersistMode
	}
	if _, err := js.CreateStream(context.Background(), sc); err != nil {
		log.Fatal(err)
	}

	payload := []byte(strings.Repeat("x", 300))
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	start, cpuStart := time.Now(), cpu()
	last, cpuLast, lastI := start, cpuStart, 0
	futures := make([]jetstream.PubAckFuture, 0, *batch)
	for i := 0; i < *n; {
		futures = futures[:0]
		for end := min(i+*batch, *n); i < end; i++ {
			m := &nats.Msg{Subject: "logs.app-" + strconv.Itoa(i%8), Data: payload, Header: nats.Header{}}
			opts := []jetstream.PublishOpt{jetstream.WithExpectStream("LOGS")}
			if *msgID {
				opts = append(opts, jetstream.WithMsgID(fmt.Sprintf("id-%020d", i)))
			}
			f, err := js.PublishMsgAsync(m, opts...)
			if err != nil {
				log.Fatal(err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				log.Fatal(err)
			}
		}
		if i%*every == 0 || i == *n {
			now, c := time.Now(), cpu()
			k := float64(i - lastI)
			fmt.Printf("%9d: %8.0f msg/s  %8.0f msg/cpu-s\n", i, k/now.Sub(last).Seconds(), k/(c-cpuLast).Seconds())
			last, cpuLast, lastI = now, c, i
		}
	}
	el, c := time.Since(start), cpu()-cpuStart
	fmt.Printf("total %d: %.0f msg/s, %.0f msg/cpu-s (%.1fs wall, %.1fs CPU)\n", *n, float64(*n)/el.Seconds(), float64(*n)/c.Seconds(), el.Seconds(), c.Seconds())
}
