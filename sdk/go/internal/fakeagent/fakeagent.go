// Package fakeagent is an in-process LogFlux agent for tests: a real Unix
// socket or loopback TCP listener that speaks the Agent API, checks entries
// by its rules, records what it accepts, and can be made to misbehave.
package fakeagent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Entry is an entry the agent accepted, as it arrived.
type Entry struct {
	Payload     string
	EntryType   int
	Source      string
	LogLevel    int
	Timestamp   string // as sent; empty if absent
	PayloadType string // as sent; empty if absent
	Metadata    map[string]string
	Raw         string // the entry's JSON
}

// Options configure an Agent.
type Options struct {
	// TCP listens on 127.0.0.1 instead of a Unix socket; Secret is the
	// shared secret then required first on each connection.
	TCP    bool
	Secret string
	// MaxLine is the longest line read; longer ones are answered
	// message_too_large. Default 16 MiB.
	MaxLine int
	// Lenient skips the checks encoding/json does not make (duplicate
	// keys, invalid UTF-8, lone surrogates), which are slow; for
	// benchmarks.
	Lenient bool
}

// Counts are what the agent has seen.
type Counts struct {
	Conns, Auths, Batches, Singles, Pings, Flushes, Errors int
	MaxBatch, MaxLine                                      int
}

// Agent is a fake agent. Its methods are safe for concurrent use.
type Agent struct {
	t       testing.TB
	opts    Options
	network string
	address string

	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
	entries      []Entry
	counts       Counts
	stopped      chan struct{} // closed by Stop
	unresponsive bool
	hold         chan struct{} // non-nil: flush answers wait until it is closed
	failNext     []string      // error codes for the next batches
	dropFlushes  int           // close the connection instead of answering
	failFlushes  []string      // error codes to answer the next flushes with
	reject       func(Entry) string

	wg sync.WaitGroup
}

// Start starts an agent that stops when the test ends.
func Start(t testing.TB, opts Options) *Agent {
	t.Helper()
	if opts.MaxLine == 0 {
		opts.MaxLine = 16 << 20
	}
	a := &Agent{t: t, opts: opts, conns: map[net.Conn]bool{}}
	if opts.TCP {
		a.network, a.address = "tcp", "127.0.0.1:0"
	} else {
		a.network, a.address = "unix", filepath.Join(t.TempDir(), "a.sock")
		if len(a.address) > 100 {
			t.Fatalf("fakeagent: socket path too long for sun_path: %s", a.address)
		}
	}
	if err := a.listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	return a
}

func (a *Agent) listen() error {
	ln, err := net.Listen(a.network, a.address)
	if err != nil {
		return fmt.Errorf("fakeagent: %w", err)
	}
	a.mu.Lock()
	a.ln = ln
	a.address = ln.Addr().String()
	a.stopped = make(chan struct{})
	stopped := a.stopped
	a.mu.Unlock()
	a.wg.Add(1)
	go a.accepting(ln, stopped)
	return nil
}

// Addr is the agent's address for logflux.Config.Addr.
func (a *Agent) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.network + "://" + a.address
}

// Path is the Unix socket's path.
func (a *Agent) Path() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.address
}

// Stop closes the listener and every connection and waits for them. The
// recorded entries stay. Stop twice is harmless.
func (a *Agent) Stop() {
	a.mu.Lock()
	if a.ln == nil {
		a.mu.Unlock()
		return
	}
	a.ln.Close()
	a.ln = nil
	close(a.stopped)
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
	if a.network == "unix" {
		os.Remove(a.address)
	}
}

// Restart listens again on the same address after Stop.
func (a *Agent) Restart() {
	a.t.Helper()
	if err := a.listen(); err != nil {
		a.t.Fatal(err)
	}
}

// Entries returns a copy of the accepted entries, in arrival order.
func (a *Agent) Entries() []Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Entry(nil), a.entries...)
}

// Counts returns what the agent has seen so far.
func (a *Agent) Counts() Counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts
}

// WaitEntries waits until at least n entries arrived and returns them; it
// fails the test after timeout.
func (a *Agent) WaitEntries(n int, timeout time.Duration) []Entry {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		es := a.Entries()
		if len(es) >= n {
			return es
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("fakeagent: %d entries after %v, want %d", len(es), timeout, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// SetUnresponsive makes new connections hang: accepted, never read.
func (a *Agent) SetUnresponsive(v bool) {
	a.mu.Lock()
	a.unresponsive = v
	a.mu.Unlock()
}

// HoldFlushes makes flush answers wait until release is called.
func (a *Agent) HoldFlushes() (release func()) {
	ch := make(chan struct{})
	a.mu.Lock()
	a.hold = ch
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			if a.hold == ch {
				a.hold = nil
			}
			a.mu.Unlock()
			close(ch)
		})
	}
}

// FailNextBatches answers the next batches with these error codes, one
// each, accepting nothing of them (as for queue_full).
func (a *Agent) FailNextBatches(codes ...string) {
	a.mu.Lock()
	a.failNext = append(a.failNext, codes...)
	a.mu.Unlock()
}

// FailNextFlushes answers the next flushes with these error codes instead
// of success (unavailable: the queue could not be made durable).
func (a *Agent) FailNextFlushes(codes ...string) {
	a.mu.Lock()
	a.failFlushes = append(a.failFlushes, codes...)
	a.mu.Unlock()
}

// DropNextFlushes closes the connection instead of answering the next n
// flushes, after accepting what came before them.
func (a *Agent) DropNextFlushes(n int) {
	a.mu.Lock()
	a.dropFlushes += n
	a.mu.Unlock()
}

// SetReject makes the agent refuse entries for which f returns a field name.
func (a *Agent) SetReject(f func(Entry) string) {
	a.mu.Lock()
	a.reject = f
	a.mu.Unlock()
}

func (a *Agent) accepting(ln net.Listener, stopped chan struct{}) {
	defer a.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		a.mu.Lock()
		if a.ln != ln {
			a.mu.Unlock()
			c.Close()
			return
		}
		a.conns[c] = true
		a.counts.Conns++
		unresponsive := a.unresponsive
		a.mu.Unlock()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer func() {
				a.mu.Lock()
				delete(a.conns, c)
				a.mu.Unlock()
				c.Close()
			}()
			if unresponsive {
				<-stopped
				return
			}
			a.serve(c, stopped)
		}()
	}
}

// connState is one connection's flush counts.
type connState struct {
	accepted, rejected int
	authed             bool
}

func (a *Agent) serve(c net.Conn, stopped chan struct{}) {
	br := bufio.NewReaderSize(c, 64<<10)
	st := &connState{authed: a.network == "unix"}
	for {
		line, tooLong, err := readLine(br, a.opts.MaxLine)
		if err != nil {
			return
		}
		if tooLong {
			st.rejected++
			a.answer(c, errorResp("message_too_large", "line too long", nil))
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		a.mu.Lock()
		a.counts.MaxLine = max(a.counts.MaxLine, len(line))
		a.mu.Unlock()
		if !a.handle(c, st, line, stopped) {
			return
		}
	}
}

// handle answers one message; false closes the connection.
func (a *Agent) handle(c net.Conn, st *connState, line []byte, stopped chan struct{}) bool {
	var msg map[string]json.RawMessage
	var err error
	if !a.opts.Lenient {
		err = strictJSON(line)
	}
	notObject := false
	if err == nil {
		notObject = json.Unmarshal(line, &msg) != nil || msg == nil
	}
	var action string
	actionOK := err == nil && json.Unmarshal(msg["action"], &action) == nil
	if !st.authed || action == "authenticate" && a.network == "tcp" {
		var secret *string
		if err == nil {
			json.Unmarshal(msg["shared_secret"], &secret)
		}
		if action != "authenticate" || secret == nil {
			a.answer(c, errorResp("auth_required", "authenticate first", nil))
			return false
		}
		if *secret != a.opts.Secret {
			a.answer(c, errorResp("auth_failed", "wrong shared secret", nil))
			return false
		}
		st.authed = true
		a.mu.Lock()
		a.counts.Auths++
		a.mu.Unlock()
		a.answer(c, map[string]any{"status": "success", "message": "Authentication successful"})
		return true
	}
	if err != nil {
		st.rejected++
		a.answer(c, errorResp("invalid_json", err.Error(), nil))
		return true
	}
	if notObject {
		st.rejected++
		a.answer(c, errorResp("invalid_message", "a message is a JSON object", nil))
		return true
	}
	if v, ok := msg["version"]; ok && string(v) != "null" && string(v) != `"1.0"` {
		st.rejected++
		a.answer(c, errorResp("unsupported_version", "version must be 1.0", nil))
		return true
	}
	if _, ok := msg["action"]; ok {
		if !actionOK {
			st.rejected++
			a.answer(c, errorResp("invalid_message", "action must be a string", nil))
			return true
		}
		switch action {
		case "ping":
			a.count(func(n *Counts) { n.Pings++ })
			a.answer(c, map[string]any{"status": "pong"})
		case "authenticate":
			a.answer(c, map[string]any{"status": "success", "message": "Authentication successful"})
		case "flush":
			a.mu.Lock()
			hold := a.hold
			drop := a.dropFlushes > 0
			if drop {
				a.dropFlushes--
			}
			var fail string
			if len(a.failFlushes) > 0 {
				fail, a.failFlushes = a.failFlushes[0], a.failFlushes[1:]
			}
			a.counts.Flushes++
			a.mu.Unlock()
			if drop {
				return false
			}
			if fail != "" {
				a.answer(c, errorResp(fail, "scripted flush failure", nil))
				return true
			}
			if hold != nil {
				select {
				case <-hold:
				case <-stopped:
					return false
				}
			}
			a.answer(c, map[string]any{"status": "success", "action": "flush", "accepted": st.accepted, "rejected": st.rejected})
		default:
			a.answer(c, errorResp("unknown_action", "unknown action "+action, nil))
		}
		return true
	}
	if raw, ok := msg["entries"]; ok {
		var entries []json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil || len(entries) == 0 {
			st.rejected++
			a.answer(c, errorResp("invalid_message", "entries must be a non-empty array", nil))
			return true
		}
		a.mu.Lock()
		a.counts.Batches++
		a.counts.MaxBatch = max(a.counts.MaxBatch, len(entries))
		var fail string
		if len(a.failNext) > 0 {
			fail, a.failNext = a.failNext[0], a.failNext[1:]
		}
		a.mu.Unlock()
		if len(entries) > 100 {
			fail = "batch_too_large"
		}
		if fail != "" {
			st.rejected += len(entries)
			a.answer(c, errorResp(fail, "batch refused", nil))
			return true
		}
		var errs []map[string]any
		for i, raw := range entries {
			e, fes := a.check(raw)
			if len(fes) > 0 {
				st.rejected++
				for _, fe := range fes {
					errs = append(errs, map[string]any{"index": i, "field": fe.field, "message": fe.why})
				}
				continue
			}
			a.accept(e)
			st.accepted++
		}
		if len(errs) > 0 {
			a.answer(c, errorResp("invalid_entry", "invalid entries in batch", errs))
		}
		return true
	}
	a.count(func(n *Counts) { n.Singles++ })
	e, fes := a.check(line)
	if len(fes) > 0 {
		st.rejected++
		var errs []map[string]any
		for _, fe := range fes {
			errs = append(errs, map[string]any{"field": fe.field, "message": fe.why})
		}
		a.answer(c, errorResp("invalid_entry", fes[0].field+" "+fes[0].why, errs))
		return true
	}
	a.accept(e)
	st.accepted++
	return true
}

func (a *Agent) accept(e Entry) {
	a.mu.Lock()
	a.entries = append(a.entries, e)
	a.mu.Unlock()
}

func (a *Agent) count(f func(*Counts)) {
	a.mu.Lock()
	f(&a.counts)
	a.mu.Unlock()
}

func (a *Agent) answer(c net.Conn, v any) {
	b, _ := json.Marshal(v)
	if m, ok := v.(map[string]any); ok && m["status"] == "error" {
		a.count(func(n *Counts) { n.Errors++ })
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(append(b, '\n'))
}

func errorResp(code, msg string, errs []map[string]any) map[string]any {
	m := map[string]any{"status": "error", "code": code, "message": msg}
	if errs != nil {
		m["errors"] = errs
	}
	return m
}

// fieldErr is one refused field of an entry.
type fieldErr struct{ field, why string }

// check validates one entry by the Agent API's rules. It returns the entry,
// or every bad field and why (field "" when the entry is not an object).
func (a *Agent) check(raw json.RawMessage) (e Entry, errs []fieldErr) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return e, []fieldErr{{"", "not a JSON object"}}
	}
	e.Raw = string(raw)
	bad := func(field, why string) { errs = append(errs, fieldErr{field, why}) }
	present := func(k string) bool { v, ok := m[k]; return ok && string(v) != "null" }
	str := func(k string, dst *string) bool {
		return len(m[k]) > 0 && m[k][0] == '"' && json.Unmarshal(m[k], dst) == nil
	}
	if present("version") && string(m["version"]) != `"1.0"` {
		bad("version", "must be 1.0")
	}
	switch {
	case !present("payload") || !str("payload", &e.Payload) || e.Payload == "":
		bad("payload", "must be a non-empty string")
	case len(e.Payload) > 1<<20:
		bad("payload", "longer than 1 MiB")
	}
	var ok bool
	if e.EntryType, ok = integer(m["entryType"]); !ok || e.EntryType < 1 || e.EntryType > 5 {
		bad("entryType", "must be an integer from 1 to 5")
	}
	if !present("source") || !str("source", &e.Source) || e.Source == "" || utf8.RuneCountInString(e.Source) > 256 {
		bad("source", "must be a string of 1 to 256 characters")
	}
	if e.LogLevel, ok = integer(m["logLevel"]); !ok || e.LogLevel < 1 || e.LogLevel > 8 {
		bad("logLevel", "must be an integer from 1 to 8")
	}
	if present("timestamp") {
		if !str("timestamp", &e.Timestamp) {
			bad("timestamp", "must be a string")
		} else if _, err := time.Parse(time.RFC3339Nano, e.Timestamp); err != nil {
			bad("timestamp", "must be RFC 3339")
		}
	}
	if present("payloadType") && (!str("payloadType", &e.PayloadType) || !validPayloadType(e.PayloadType)) {
		bad("payloadType", "must be 1-64 letters, digits, _, - or .")
	}
	if present("metadata") {
		var md map[string]json.RawMessage
		if err := json.Unmarshal(m["metadata"], &md); err != nil || md == nil {
			bad("metadata", "must be an object")
		} else {
			e.Metadata = map[string]string{}
			for k, v := range md {
				var s string
				if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
					bad("metadata."+k, "must be a string")
				} else if utf8.RuneCountInString(s) > 1024 {
					bad("metadata."+k, "longer than 1024 characters")
				}
				e.Metadata[k] = s
			}
		}
	}
	if len(errs) > 0 {
		return e, errs
	}
	a.mu.Lock()
	reject := a.reject
	a.mu.Unlock()
	if reject != nil {
		if f := reject(e); f != "" {
			return e, []fieldErr{{f, "refused by the test"}}
		}
	}
	return e, nil
}

func integer(raw json.RawMessage) (int, bool) {
	s := string(raw)
	if s == "" || strings.ContainsAny(s, ".eE\"") {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func validPayloadType(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// readLine reads one line of at most max bytes; a longer one is skipped up
// to its newline and reported as tooLong.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		part, err := br.ReadSlice('\n')
		if len(line)+len(part) > max+2 {
			tooLong = true
			line = line[:0]
		} else if !tooLong {
			line = append(line, part...)
		}
		if err == nil {
			return line, tooLong, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, false, err
		}
	}
}

// ReadFileEntries checks every line of an NDJSON file (such as the SDK's
// fallback file) as a single-entry message and returns the entries.
func ReadFileEntries(t testing.TB, path string) []Entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{}
	var out []Entry
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if err := strictJSON(line); err != nil {
			t.Fatalf("%s line %d: %v: %s", path, i+1, err, line)
		}
		e, fes := a.check(line)
		if len(fes) > 0 {
			t.Fatalf("%s line %d: %v: %s", path, i+1, fes, line)
		}
		out = append(out, e)
	}
	return out
}

// Replay sends the lines of an NDJSON file to the agent at addr, one
// message per line, then a flush, the way `logflux-agent send --file`
// replays a fallback file. It returns the flush answer's counts.
func Replay(t testing.TB, network, address, path string) (accepted, rejected int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial(network, address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(data, []byte("{\"version\":\"1.0\",\"action\":\"flush\"}\n")...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		var r struct {
			Status, Action     string
			Accepted, Rejected int
		}
		json.Unmarshal(line, &r)
		if r.Action == "flush" {
			return r.Accepted, r.Rejected
		}
		t.Logf("replay: agent answered %s", bytes.TrimSpace(line))
	}
}

// strictJSON reports what encoding/json lets pass but the Agent API refuses
// as invalid_json: invalid UTF-8, lone surrogate escapes, duplicate keys.
func strictJSON(line []byte) error {
	if !utf8.Valid(line) {
		return errors.New("invalid UTF-8")
	}
	if err := checkSurrogates(line); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := checkDuplicates(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

func checkSurrogates(b []byte) error {
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 < len(b) && b[i+1] == 'u' && i+5 < len(b) {
				r, _ := strconv.ParseUint(string(b[i+2:i+6]), 16, 32)
				switch {
				case r >= 0xD800 && r < 0xDC00:
					if i+11 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
						return errors.New("lone surrogate")
					}
					r2, _ := strconv.ParseUint(string(b[i+8:i+12]), 16, 32)
					if r2 < 0xDC00 || r2 >= 0xE000 {
						return errors.New("lone surrogate")
					}
					i += 11
					continue
				case r >= 0xDC00 && r < 0xE000:
					return errors.New("lone surrogate")
				}
				i += 5
				continue
			}
			i++
		}
	}
	return nil
}

// checkDuplicates reads one JSON value and fails on an object with a key
// twice.
func checkDuplicates(dec *json.Decoder, depth int) error {
	if depth > 64 {
		return errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := k.(string)
			if seen[key] {
				return fmt.Errorf("duplicate key %q", key)
			}
			seen[key] = true
			if err := checkDuplicates(dec, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := checkDuplicates(dec, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
