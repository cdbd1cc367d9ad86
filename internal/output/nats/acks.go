package nats

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// acks collects the stream's acknowledgements of one Write's messages.
//
// Every message of a Write is published with its own reply subject,
// <inbox>.<wave>.<k>: wave numbers the Writes, k is the message's place in
// the Write. One subscription on <inbox>.*.* takes every answer into slot
// k. An answer to an earlier wave (a Write that gave up waiting) is
// dropped: that Write's entries are published again, and the stream drops
// the copies by Nats-Msg-Id.
//
// This replaces the client's per-message acknowledgement futures
// (jetstream.PublishMsgAsync: a future, a timer, two channels and a map
// entry for every message, all under the publisher's lock), which cost
// more CPU time than the rest of a Write.
type acks struct {
	prefix string // <inbox>.
	sub    *nats.Subscription

	mu       sync.Mutex
	wave     uint64
	open     bool // a Write is waiting on this wave
	answers  []answer
	answered int
	expected int // -1 until the Write has published all it will
	done     chan struct{}
	lost     error // the connection dropped during the wave
}

// answer is what the stream said of one message.
type answer struct {
	got       bool
	duplicate bool  // the stream already had the Nats-Msg-Id
	err       error // the stream refused it (or the answer was not a PubAck)
}

// subscribe takes the answers on a connection. The client subscribes
// again by itself after a reconnect.
func (a *acks) subscribe(nc *nats.Conn) error {
	a.prefix = nc.NewInbox() + "."
	sub, err := nc.Subscribe(a.prefix+"*.*", a.handle)
	if err != nil {
		return err
	}
	// The client's default pending limits (500,000 messages, 64 MiB)
	// hold the answers of far more than a batch.
	a.sub = sub
	return nil
}

// start begins a wave of n messages at most and returns its number and
// the channel closed when every published message has its answer (or the
// connection dropped).
func (a *acks) start(n int) (uint64, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.wave++
	a.open = true
	if cap(a.answers) < n {
		a.answers = make([]answer, n)
	}
	a.answers = a.answers[:n]
	clear(a.answers)
	a.answered, a.expected, a.lost = 0, -1, nil
	a.done = make(chan struct{})
	return a.wave, a.done
}

// reply is the reply subject of message k of wave.
func (a *acks) reply(buf []byte, wave uint64, k int) ([]byte, string) {
	buf = append(buf[:0], a.prefix...)
	buf = strconv.AppendUint(buf, wave, 10)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, int64(k), 10)
	return buf, string(buf)
}

// published tells the wave that n messages went out: once n answers are
// in, it is done.
func (a *acks) published(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expected = n
	a.maybeDone()
}

func (a *acks) maybeDone() {
	if a.open && a.done != nil && (a.answered == a.expected || a.lost != nil) {
		close(a.done)
		a.done = nil
	}
}

// finish ends the wave: later answers to it are dropped. It returns the
// answers (valid until the next start) and the connection loss, if any.
func (a *acks) finish() ([]answer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.open = false
	a.done = nil
	return a.answers, a.lost
}

// disconnected fails the open wave at once: its missing answers will not
// come on a new connection.
func (a *acks) disconnected(_ *nats.Conn, err error) {
	if err == nil {
		err = nats.ErrDisconnected
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.open {
		a.lost = fmt.Errorf("connection lost: %w", err)
		a.maybeDone()
	}
}

// handle takes one answer.
func (a *acks) handle(m *nats.Msg) {
	wave, k, ok := parseReply(strings.TrimPrefix(m.Subject, a.prefix))
	if !ok {
		return
	}
	ans := readAnswer(m)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.open || wave != a.wave || k >= len(a.answers) || a.answers[k].got {
		return
	}
	a.answers[k] = ans
	a.answered++
	a.maybeDone()
}

func parseReply(s string) (wave uint64, k int, ok bool) {
	w, ks, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	wave, err1 := strconv.ParseUint(w, 10, 64)
	k, err2 := strconv.Atoi(ks)
	return wave, k, err1 == nil && err2 == nil && k >= 0
}

// errNoStream is the server's answer when nothing takes the subject: the
// stream is gone, or JetStream is not up yet.
var errNoStream = errors.New("no stream took the message (no responders)")

// pubAck is the stream's answer to a message (a PubAck or an error).
type pubAck struct {
	Error     *jetstream.APIError `json:"error"`
	Stream    string              `json:"stream"`
	Duplicate bool                `json:"duplicate"`
}

func readAnswer(m *nats.Msg) answer {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return answer{got: true, err: errNoStream}
	}
	var pa pubAck
	switch err := json.Unmarshal(m.Data, &pa); {
	case err != nil:
		return answer{got: true, err: fmt.Errorf("unreadable acknowledgement %.100q: %w", m.Data, err)}
	case pa.Error != nil:
		return answer{got: true, err: pa.Error}
	case pa.Stream == "":
		return answer{got: true, err: fmt.Errorf("acknowledgement without a stream: %.100q", m.Data)}
	}
	return answer{got: true, duplicate: pa.Duplicate}
}
