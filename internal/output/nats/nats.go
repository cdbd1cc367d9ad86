// Package nats is the output that publishes entries to NATS JetStream with the entry's id as Nats-Msg-Id, so that the server drops a re-sent entry (or, with jetstream: false, to core NATS at most once).
package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logflux/agent/internal/component"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/remote"
)

// Factory makes nats outputs: `type: nats` in the configuration.
type Factory struct{}

var _ output.Factory = Factory{}

// Type is "nats".
func (Factory) Type() string { return "nats" }

// NewConfig returns the defaults.
func (Factory) NewConfig() component.Config {
	return &Config{
		Common: remote.DefaultCommon(), URL: URLs{DefaultURL}, Subject: DefaultSubject, JetStream: true,
		Stream: DefaultStream, Name: "logflux-agent",
		CreateStream: CreateStream{DuplicateWindow: DefaultDuplicateWindow, Storage: "file", Replicas: 1},
	}
}

// New builds the output; it connects on its first Write.
func (Factory) New(cfg component.Config, set component.Settings) (output.Output, error) {
	return New(cfg.(*Config), set)
}

// Output publishes each batch and returns once the stream acknowledged
// every entry of it (JetStream), or once the server has them (core NATS).
type Output struct {
	name    string
	cfg     *Config
	subject *remote.Template
	opts    []nats.Option

	nc       *nats.Conn
	js       jetstream.JetStream
	streamOK bool // the stream was found (or made) on this connection
	memo     remote.Memo
	acks     acks

	duplicates *atomic.Int64
	ackErrors  *atomic.Int64
	refused    *atomic.Int64
}

var (
	_ output.Output = (*Output)(nil)
	_ output.Tuned  = (*Output)(nil)
)

// New builds an output from a validated configuration.
func New(cfg *Config, set component.Settings) (*Output, error) {
	subject, err := remote.ParseTemplate(cfg.Subject, cleanToken)
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	o := &Output{
		name: set.Name, cfg: cfg, subject: subject,
		duplicates: set.Metrics.Counter("duplicates", "Entries the stream already had (a re-sent batch or an agent restart), dropped by the server by Nats-Msg-Id."),
		ackErrors:  set.Metrics.Counter("ack_errors", "Entries published without an acknowledgement (timeout, no stream, server error); published again."),
		refused:    set.Metrics.Counter("refused_records", "Entries refused for good (larger than the server's max_payload or the stream's max_msg_size)."),
	}
	o.opts, err = o.connectOptions()
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (o *Output) connectOptions() ([]nats.Option, error) {
	c := o.cfg
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.Timeout(min(c.Timeout, 10*time.Second)),
		nats.MaxReconnects(-1), // once connected, reconnect for ever
		nats.ReconnectWait(c.Retry.Initial),
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			return min(c.Retry.Initial<<min(attempts, 20), c.Retry.Max)
		}),
		// Entries are kept by the queue until acknowledged; the client's
		// own buffer while reconnecting would only hold copies.
		nats.ReconnectBufSize(-1),
		// The acknowledgements still missing will not come.
		nats.DisconnectErrHandler(o.acks.disconnected),
	}
	tc, err := c.TLS.Config()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	switch {
	case c.CredentialsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredentialsFile))
	case c.NkeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NkeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey_file: %w", err)
		}
		opts = append(opts, o)
	case c.Token != "" || c.TokenFile != "":
		tok, err := remote.Secret(c.Token, c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token_file: %w", err)
		}
		opts = append(opts, nats.Token(tok))
	}
	return opts, nil
}

// Name identifies the output.
func (o *Output) Name() string { return o.name }

// Delivery is the configured batching and retrying.
func (o *Output) Delivery() output.Delivery { return o.cfg.Delivery() }

// connect dials the servers and, for JetStream, finds (or makes) the
// stream. A failure is retryable: the dispatcher tries again later.
func (o *Output) connect(ctx context.Context) error {
	if o.nc == nil {
		nc, err := nats.Connect(strings.Join(o.cfg.URL, ","), o.opts...)
		if err != nil {
			return output.Retryable(fmt.Errorf("connecting to %s: %w", strings.Join(o.cfg.URL, ", "), err), 0)
		}
		if o.cfg.JetStream {
			js, err := jetstream.New(nc)
			if err == nil {
				err = o.acks.subscribe(nc)
			}
			if err != nil {
				nc.Close()
				return output.Retryable(fmt.Errorf("setting up JetStream on %s: %w", nc.ConnectedUrlRedacted(), err), 0)
			}
			o.js = js
		}
		o.nc = nc
	}
	if !o.cfg.JetStream || o.streamOK {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	_, err := o.js.Stream(ctx, o.cfg.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) && len(o.cfg.CreateStream.Subjects) > 0:
		cs := o.cfg.CreateStream
		storage := jetstream.FileStorage
		if cs.Storage == "memory" {
			storage = jetstream.MemoryStorage
		}
		_, err = o.js.CreateStream(ctx, jetstream.StreamConfig{
			Name: o.cfg.Stream, Subjects: cs.Subjects, Duplicates: cs.DuplicateWindow, MaxAge: cs.MaxAge,
			MaxBytes: int64(cs.MaxBytes), Storage: storage, Replicas: cs.Replicas,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return output.Retryable(fmt.Errorf("creating stream %s: %w", o.cfg.Stream, err), 0)
		}
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return output.Retryable(fmt.Errorf("stream %s does not exist: create it, or set create_stream.subjects", o.cfg.Stream), 0)
	case err != nil:
		return output.Retryable(fmt.Errorf("looking up stream %s: %w", o.cfg.Stream, err), 0)
	}
	o.streamOK = true
	return nil
}

// Write publishes the records not delivered by an earlier attempt at this
// batch.
func (o *Output) Write(ctx context.Context, records [][]byte) error {
	if err := o.connect(ctx); err != nil {
		return err
	}
	if !o.cfg.JetStream {
		return o.writeCore(records)
	}
	ids, todo := o.memo.Sort(records)
	wave, done := o.acks.start(len(todo))
	// One message, its header map and reply buffer serve the whole batch:
	// PublishMsg copies them into the connection's buffer, so nothing of
	// the records is kept once Write returns.
	msgID := []string{""}
	msg := &nats.Msg{Header: nats.Header{jetstream.MsgIDHeader: msgID, jetstream.ExpectedStreamHeader: {o.cfg.Stream}}}
	var reply []byte
	sent := make([]bool, len(todo))
	var pubErr error
	for k, p := range todo {
		h := &todo[k].Head
		msg.Subject, msg.Data, msgID[0] = o.subject.Expand(h), records[p.Index], h.ID
		reply, msg.Reply = o.acks.reply(reply, wave, k)
		err := o.nc.PublishMsg(msg)
		if errors.Is(err, nats.ErrMaxPayload) {
			o.refused.Add(1)
			o.memo.MarkRefused(h.ID, fmt.Errorf("%w (%d bytes; the server's max_payload is %d)", err, len(msg.Data), o.nc.MaxPayload()))
			continue
		}
		if err != nil {
			pubErr = err // publish nothing more; wait for what went out
			break
		}
		sent[k] = true
	}
	published := 0
	for _, s := range sent {
		if s {
			published++
		}
	}
	o.acks.published(published)
	var waitErr error
	backstop := time.NewTimer(o.cfg.Timeout)
	select {
	case <-done:
	case <-backstop.C:
		waitErr = output.Timeout(fmt.Errorf("no acknowledgement within %s", o.cfg.Timeout))
	case <-ctx.Done():
		waitErr = ctx.Err()
	}
	backstop.Stop()
	answers, lost := o.acks.finish()
	if lost != nil {
		waitErr = lost
	}

	delivered := 0
	var ackErr error
	for k, a := range answers {
		switch {
		case !sent[k]:
		case !a.got:
			o.ackErrors.Add(1)
			ackErr = waitErr
		case a.err == nil:
			if a.duplicate {
				o.duplicates.Add(1)
			}
			delivered++
		case refusedForGood(a.err):
			o.refused.Add(1)
			o.memo.MarkRefused(todo[k].Head.ID, fmt.Errorf("the stream refused the entry: %w", a.err))
		default:
			o.ackErrors.Add(1)
			ackErr = a.err
		}
	}
	if pubErr == nil && ackErr == nil {
		return o.memo.Outcome(ids)
	}
	// The batch will be tried again: remember what the stream took, so
	// that the retry publishes only the rest.
	for k, a := range answers {
		if sent[k] && a.got && a.err == nil {
			o.memo.MarkDelivered(todo[k].Head.ID)
		}
	}
	if pubErr != nil {
		return o.memo.Retry(output.Retryable(fmt.Errorf("publishing to %s: %w", o.cfg.Stream, pubErr), 0), delivered)
	}
	return o.memo.Retry(fmt.Errorf("publishing to stream %s: %w", o.cfg.Stream, ackErr), delivered)
}

// refusedForGood reports whether the stream will never take the message.
func refusedForGood(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum || apiErr.Code == 413
	}
	return false
}

// writeCore publishes to core NATS: delivered once the server has read
// them (a flush round trip), which is all core NATS says. Subscribers that
// are not there, or too slow, never see them.
func (o *Output) writeCore(records [][]byte) error {
	ids, todo := o.memo.Sort(records)
	for _, p := range todo {
		r, h := records[p.Index], p.Head
		if err := o.nc.Publish(o.subject.Expand(&h), r); err != nil {
			if errors.Is(err, nats.ErrMaxPayload) {
				o.refused.Add(1)
				o.memo.MarkRefused(h.ID, err)
				continue
			}
			return o.memo.Retry(output.Retryable(err, 0), 0)
		}
	}
	if err := o.nc.FlushTimeout(o.cfg.Timeout); err != nil {
		return o.memo.Retry(output.Retryable(fmt.Errorf("flushing to the server: %w", err), 0), 0)
	}
	return o.memo.Outcome(ids)
}

// Close closes the connection. Nothing is in flight: a Write returns
// once its messages are acknowledged, or after giving up on them (they
// stay queued and are published again, the stream dropping copies).
func (o *Output) Close(context.Context) error {
	if o.nc == nil {
		return nil
	}
	o.nc.Close()
	return nil
}
