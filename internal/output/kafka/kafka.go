// Package kafka is the output that produces entries to Apache Kafka (or any broker speaking its protocol) with franz-go, acknowledged by every in-sync replica and de-duplicated by the idempotent producer.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/remote"
)

// Header names every record carries (values in decimal, as in the record).
const (
	HeaderEntryType = "entryType"
	HeaderLogLevel  = "logLevel"
	HeaderSource    = "source"
)

// Factory makes kafka outputs: `type: kafka` in the configuration.
type Factory struct{}

var _ output.Factory = Factory{}

// Type is "kafka".
func (Factory) Type() string { return "kafka" }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config {
	return &Config{
		Common: remote.DefaultCommon(), Topic: DefaultTopic, Key: "none", Compression: "snappy",
		Acks: "all", MaxMessageBytes: DefaultMaxMessageBytes, ClientID: "logflux-agent",
	}
}

// New builds the output; the client connects on the first Write.
func (Factory) New(cfg component.Config, set component.Settings) (output.Output, error) {
	return New(cfg.(*Config), set)
}

// Output produces each batch and returns once every record of it is
// acknowledged (or refused, or the wait for acknowledgements times out).
//
// A record the client still holds when a Write gives up (no acknowledgement
// within `timeout`, or shutdown) stays in flight: the client keeps retrying
// it within the same producer session, and the next Write waits for it
// instead of producing it again. With the memo of what was delivered, this
// is how a retried batch never duplicates an entry within a session.
type Output struct {
	name   string
	cfg    *Config
	client *kgo.Client
	topic  *remote.Template
	life   context.Context // records' context: cancelled only by Close
	cancel context.CancelFunc

	mu       sync.Mutex
	inflight map[string]*flight // records produced by an earlier Write, not yet answered
	memo     remote.Memo
	spare    spare // memory of the last Write, free to reuse
	promise  func(*kgo.Record, error)

	lastBroker atomic.Pointer[string] // the last broker connection failure, for error messages

	ackTimeouts  *atomic.Int64
	produceErrs  *atomic.Int64
	refused      *atomic.Int64
	connectFails *atomic.Int64
}

var (
	_ output.Output = (*Output)(nil)
	_ output.Tuned  = (*Output)(nil)
)

// flight is one record handed to the client. It is also the record's
// context, so that the promise finds it without a lookup.
type flight struct {
	context.Context
	rec  kgo.Record
	id   string
	err  error
	done bool
	wave *wave // the Write waiting for it
}

// wave is one Write's wait for its records.
type wave struct {
	left atomic.Int64
	done chan struct{}
}

func (w *wave) release() {
	if w.left.Add(-1) == 0 {
		close(w.done)
	}
}

// New builds an output from a validated configuration. No connection is
// made until records are produced.
func New(cfg *Config, set component.Settings) (*Output, error) {
	topic, err := remote.ParseTemplate(cfg.Topic, cleanTopic)
	if err != nil {
		return nil, fmt.Errorf("topic: %w", err)
	}
	o := &Output{
		name: set.Name, cfg: cfg, topic: topic, inflight: map[string]*flight{},
		ackTimeouts:  set.Metrics.Counter("ack_timeouts", "Writes that ended without every acknowledgement within timeout (their records stay in flight and are not produced twice)."),
		produceErrs:  set.Metrics.Counter("produce_errors", "Records the client gave back with a retryable error (produced again by the next attempt)."),
		refused:      set.Metrics.Counter("refused_records", "Records refused for good (larger than max_message_bytes, invalid topic); they go to the dead-letter store."),
		connectFails: set.Metrics.Counter("broker_connect_errors", "Failed connections to a broker (refused, TLS or SASL failures)."),
	}
	o.life, o.cancel = context.WithCancel(context.Background())
	o.promise = o.answered
	opts, err := o.options()
	if err != nil {
		return nil, err
	}
	if o.client, err = kgo.NewClient(opts...); err != nil {
		return nil, err
	}
	set.Metrics.Func("buffered_records", "Records the client holds: produced and not yet acknowledged.", component.Gauge, o.client.BufferedProduceRecords)
	return o, nil
}

func (o *Output) options() ([]kgo.Opt, error) {
	c := o.cfg
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.ProducerBatchCompression(compression(c.Compression)...),
		kgo.ProducerBatchMaxBytes(int32(c.MaxMessageBytes)),
		// The dispatcher already lingers (batch.timeout); a Write waits for
		// its acknowledgements, so records go out at once.
		kgo.ProducerLinger(0),
		// Room for two batches: a batch always fits, with an earlier
		// batch's records still in flight.
		kgo.MaxBufferedRecords(max(10000, 2*c.Batch.MaxEntries)),
		// Records are retried within the session without a limit (the
		// client's default; the idempotent producer keeps the order and
		// drops duplicates). A topic that does not exist is reported
		// after a few tries and retried by the dispatcher.
		kgo.RetryBackoffFn(func(tries int) time.Duration { return retryDelay(c.Retry, tries) }),
		kgo.WithHooks(hooks{o}),
	}
	switch c.Acks {
	case "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	tc, err := c.TLS.Config()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := strings.ToUpper(c.SASL.Mechanism); m != "" {
		pw, err := remote.Secret(c.SASL.Password, c.SASL.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("sasl.password_file: %w", err)
		}
		var mech sasl.Mechanism
		switch m {
		case "PLAIN":
			mech = plain.Auth{User: c.SASL.Username, Pass: pw}.AsMechanism()
		case "SCRAM-SHA-256":
			mech = scram.Auth{User: c.SASL.Username, Pass: pw}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			mech = scram.Auth{User: c.SASL.Username, Pass: pw}.AsSha512Mechanism()
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// retryDelay is the client's wait before its tries-th retry of a request:
// exponential from retry.initial, capped at retry.max, with jitter.
func retryDelay(r remote.Retry, tries int) time.Duration {
	ceil := r.Initial << min(max(tries-1, 0), 30)
	if ceil <= 0 || ceil > r.Max {
		ceil = r.Max
	}
	return ceil/2 + rand.N(ceil/2+1)
}

// codec returns the index of name in the compressions, or -1.
func codec(name string) int {
	for i, n := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		if n == name {
			return i
		}
	}
	return -1
}

func compression(name string) []kgo.CompressionCodec {
	switch name {
	case "gzip":
		return []kgo.CompressionCodec{kgo.GzipCompression(), kgo.NoCompression()}
	case "snappy":
		return []kgo.CompressionCodec{kgo.SnappyCompression(), kgo.NoCompression()}
	case "lz4":
		return []kgo.CompressionCodec{kgo.Lz4Compression(), kgo.NoCompression()}
	case "zstd":
		return []kgo.CompressionCodec{kgo.ZstdCompression(), kgo.NoCompression()}
	}
	return []kgo.CompressionCodec{kgo.NoCompression()}
}

// Name identifies the output.
func (o *Output) Name() string { return o.name }

// Delivery is the configured batching and retrying.
func (o *Output) Delivery() output.Delivery { return o.cfg.Delivery() }

// levels are the header values of entry types and log levels.
var numbers = func() [][]byte {
	n := make([][]byte, 10)
	for i := range n {
		n[i] = []byte(strconv.Itoa(i))
	}
	return n
}()

func number(i int) []byte {
	if i >= 0 && i < len(numbers) {
		return numbers[i]
	}
	return []byte(strconv.Itoa(i))
}

// Write produces the records not delivered by an earlier attempt at this
// batch, waits for records of it still in flight from that attempt, and
// returns nil once all are acknowledged.
func (o *Output) Write(ctx context.Context, records [][]byte) error {
	size := 0
	for _, r := range records {
		size += len(r)
	}
	// The records' bytes belong to the queue reader, which may reuse them
	// once Write returns, while a record may stay in the client's hands:
	// copy them, into one block per batch. The block and the headers are
	// those of the previous Write when it left nothing in flight (the
	// client is done with a record's bytes once it answered). The flights
	// are new: they are the records' contexts, which the client may still
	// look at after answering.
	arena, headers := o.spare.take(size, len(records))
	batch := make([]flight, len(records))
	w := &wave{done: make(chan struct{})}
	w.left.Store(1) // held until every record is handed over
	var fresh, waiting []*flight

	o.mu.Lock()
	ids, todo := o.memo.Sort(records)
	for _, p := range todo {
		i, r, h := p.Index, records[p.Index], p.Head
		if f := o.inflight[h.ID]; f != nil {
			f.wave = w
			if !f.done {
				w.left.Add(1)
			}
			waiting = append(waiting, f)
			continue
		}
		start := len(arena)
		arena = append(arena, r...)
		src := len(arena)
		arena = append(arena, h.Source...)
		f := &batch[i]
		f.Context, f.id, f.wave = o.life, h.ID, w
		hd := headers[3*i : 3*i+3 : 3*i+3]
		hd[0] = kgo.RecordHeader{Key: HeaderEntryType, Value: number(h.EntryType)}
		hd[1] = kgo.RecordHeader{Key: HeaderLogLevel, Value: number(h.LogLevel)}
		hd[2] = kgo.RecordHeader{Key: HeaderSource, Value: arena[src:len(arena):len(arena)]}
		f.rec = kgo.Record{Topic: o.topic.Expand(&h), Value: arena[start:src:src], Headers: hd, Context: f}
		switch o.cfg.Key {
		case "id":
			f.rec.Key = []byte(h.ID)
		case "source":
			f.rec.Key = hd[2].Value
		}
		fresh = append(fresh, f)
	}
	w.left.Add(int64(len(fresh)))
	o.mu.Unlock()

	for _, f := range fresh {
		o.client.Produce(ctx, &f.rec, o.promise)
	}
	w.release()

	timer := time.NewTimer(o.cfg.Timeout)
	var waitErr error
	select {
	case <-w.done:
	case <-timer.C:
		o.ackTimeouts.Add(1)
		waitErr = output.Timeout(fmt.Errorf("not every record was acknowledged within %s%s", o.cfg.Timeout, o.brokerHint()))
	case <-ctx.Done():
		waitErr = ctx.Err()
	}
	timer.Stop()
	pending, err := o.settle(append(waiting, fresh...), ids, waitErr)
	if pending == 0 {
		o.spare = spare{arena, headers}
	}
	return err
}

// spare is the memory of a Write that the next one can reuse.
type spare struct {
	arena   []byte
	headers []kgo.RecordHeader
}

// take returns the spare memory, grown to size bytes and n records, and
// forgets it (a Write that leaves records in flight keeps its memory).
func (s *spare) take(size, n int) ([]byte, []kgo.RecordHeader) {
	arena, headers := s.arena[:0], s.headers
	*s = spare{}
	if cap(arena) < size {
		arena = make([]byte, 0, size)
	}
	if cap(headers) < 3*n {
		headers = make([]kgo.RecordHeader, 3*n)
	}
	return arena, headers[:3*n]
}

// settle reads what became of a Write's records and ends the Write. It
// also returns how many records are still in flight.
func (o *Output) settle(flights []*flight, ids []string, waitErr error) (pending int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delivered := 0
	var produceErr error
	for _, f := range flights {
		switch {
		case !f.done:
			o.inflight[f.id] = f
			pending++
			continue
		case f.err == nil:
			delivered++
		case permanent(f.err):
			o.refused.Add(1)
			o.memo.MarkRefused(f.id, fmt.Errorf("kafka refused the entry: %w", f.err))
		default:
			o.produceErrs.Add(1)
			produceErr = f.err
		}
		delete(o.inflight, f.id)
	}
	if (pending > 0 && waitErr != nil) || produceErr != nil {
		// The batch will be tried again: remember what Kafka took, so that
		// the retry produces only the rest.
		for _, f := range flights {
			if f.done && f.err == nil {
				o.memo.MarkDelivered(f.id)
			}
		}
	}
	switch {
	case pending > 0 && waitErr != nil:
		return pending, o.memo.Retry(fmt.Errorf("%d of %d records in flight: %w", pending, len(flights), waitErr), delivered)
	case produceErr != nil:
		return pending, o.memo.Retry(fmt.Errorf("producing to kafka: %w%s", produceErr, o.brokerHint()), delivered)
	}
	return pending, o.memo.Outcome(ids)
}

// answered is the client's promise for every record.
func (o *Output) answered(r *kgo.Record, err error) {
	f := r.Context.(*flight)
	o.mu.Lock()
	f.err, f.done = err, true
	w := f.wave
	o.mu.Unlock()
	w.release()
}

// permanent reports whether producing the record again cannot succeed.
func permanent(err error) bool {
	for _, e := range []error{kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.InvalidTopicException, kerr.CorruptMessage, kerr.InvalidRequiredAcks} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (o *Output) brokerHint() string {
	if p := o.lastBroker.Load(); p != nil {
		return " (last broker error: " + *p + ")"
	}
	return ""
}

// Close waits within ctx for the records in flight, then closes the
// client. Records not acknowledged by then stay queued, and are produced
// again (in a new producer session) when the agent starts next.
func (o *Output) Close(ctx context.Context) error {
	err := o.client.Flush(ctx)
	o.cancel()
	o.client.Close()
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// hooks watch the client's connections, so that a failure message names
// the broker problem behind a missing acknowledgement.
type hooks struct{ o *Output }

var _ kgo.HookBrokerConnect = hooks{}

func (h hooks) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		h.o.lastBroker.Store(nil)
		return
	}
	h.o.connectFails.Add(1)
	s := fmt.Sprintf("%s: %v", net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))), err)
	h.o.lastBroker.Store(&s)
}
