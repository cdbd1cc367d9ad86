package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/logflux/agent/internal/protocol"
)

// Redactor applies one compiled configuration. It is safe for concurrent
// use; it keeps no state between entries but its counters.
type Redactor struct {
	rules    []rule // detectors, then custom rules, then the key rules
	top      scope  // where the detectors and keys apply
	keys     []glob
	dropKeys []glob
	kvKeys   int // index of kv_secrets among rules (it also masks metadata values by key), or -1
	keysIdx  int // index of the "keys" rule
	dropIdx  int // index of the "drop_keys" rule
	marker   []byte
	hashKey  []byte
	metrics  *Metrics

	// The prefilter's tables, built by New: the rules with a finder, those
	// run whatever the anchors, those run for each anchor bit, whether
	// every rule applies to every entry, and the shortest text any rule
	// can match.
	finders   bitset
	always    bitset
	byAnchor  [16]bitset
	scopeFree bool
	shortest  int
	byKey     bool // keys or drop_keys are listed
}

type rule struct {
	name   string
	action string
	find   finder // nil for the key rules
	minLen int
	need   uint16 // anchor bits (see anchors); 0: always run
	top    bool   // scoped by the section's sources and entry_types
	scope  scope  // a custom rule's own scope
	stats  *RuleCounters
}

// bitset holds rule indexes (at most MaxRules custom rules, the detectors
// and the two key rules). Two words in a struct, not an array: a struct's
// words are passed and returned in registers, an array's through memory.
type bitset struct{ lo, hi uint64 }

func (b *bitset) set(i int) {
	if i < 64 {
		b.lo |= 1 << i
	} else {
		b.hi |= 1 << (i - 64)
	}
}

func (b bitset) has(i int) bool {
	if i < 64 {
		return b.lo&(1<<i) != 0
	}
	return b.hi&(1<<(i-64)) != 0
}

func (b bitset) empty() bool         { return b.lo|b.hi == 0 }
func (b *bitset) union(o bitset)     { b.lo |= o.lo; b.hi |= o.hi }
func (b bitset) and(o bitset) bitset { return bitset{b.lo & o.lo, b.hi & o.hi} }

// each calls f with every index in b, in order.
func (b bitset) each(f func(i int)) {
	for x := b.lo; x != 0; x &= x - 1 {
		f(bits.TrailingZeros64(x))
	}
	for x := b.hi; x != 0; x &= x - 1 {
		f(64 + bits.TrailingZeros64(x))
	}
}

// New compiles a configuration, validating it first; nil (redaction off)
// for a nil configuration or one with nothing to do. Counters go to m.
func New(c *Config, m *Metrics) (*Redactor, error) {
	if c == nil {
		return nil, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics()
	}
	r := &Redactor{top: newScope(c.Sources, c.EntryTypes), marker: []byte(c.markerKey()), metrics: m, kvKeys: -1}
	topAction := c.Action
	if topAction == "" {
		topAction = ActionMask
	}
	for _, name := range c.detectors() {
		d := detectorByName(name)
		if d.name == "kv_secrets" {
			r.kvKeys = len(r.rules)
		}
		r.rules = append(r.rules, rule{name: d.name, action: topAction, find: d.find, minLen: d.minLen, need: d.need, top: true})
	}
	for _, rc := range c.Rules {
		ru := rule{name: rc.Name, action: rc.Action, scope: newScope(rc.Sources, rc.EntryTypes)}
		if ru.action == "" {
			ru.action = ActionMask
		}
		if rc.Detector != "" {
			d := detectorByName(rc.Detector)
			ru.find, ru.minLen, ru.need = d.find, d.minLen, d.need
		} else {
			ru.find, ru.minLen = regexFinder(regexp.MustCompile(rc.Pattern))
		}
		r.rules = append(r.rules, ru)
	}
	for _, k := range c.Keys {
		r.keys = append(r.keys, newGlob(k, true))
	}
	for _, k := range c.DropKeys {
		r.dropKeys = append(r.dropKeys, newGlob(k, true))
	}
	r.keysIdx = len(r.rules)
	r.rules = append(r.rules, rule{name: "keys", action: topAction, top: true})
	r.dropIdx = len(r.rules)
	r.rules = append(r.rules, rule{name: "drop_keys", action: topAction, top: true})
	if len(r.rules) == 2 && len(r.keys) == 0 && len(r.dropKeys) == 0 {
		return nil, nil
	}
	r.scopeFree = r.top.all()
	r.byKey = len(r.keys)+len(r.dropKeys) > 0
	r.shortest = -1
	for i := range r.rules {
		ru := &r.rules[i]
		ru.stats = m.counters(ru.name)
		if ru.find == nil {
			continue
		}
		r.finders.set(i)
		if !ru.top && !ru.scope.all() {
			r.scopeFree = false
		}
		if r.shortest < 0 || ru.minLen < r.shortest {
			r.shortest = ru.minLen
		}
		if ru.need == 0 {
			r.always.set(i)
		}
		for b := range r.byAnchor {
			if ru.need&(1<<b) != 0 {
				r.byAnchor[b].set(i)
			}
		}
	}
	if r.shortest < 0 {
		r.shortest = math.MaxInt // no rule looks into texts
	}
	if c.HashKey != "" || c.HashKeyFile != "" {
		k, err := c.hashKey()
		if err != nil {
			return nil, err
		}
		r.hashKey = k
	}
	return r, nil
}

// sampleEvery: one Filter call in this many is timed, and its time scaled
// up, because reading the clock costs more than redacting a typical entry.
const sampleEvery = 32

// Filter redacts the entries of one message in place and returns those to
// keep, in order (a drop_entry rule removes its entry). It is the intake's
// hook, called before the records are written.
func (r *Redactor) Filter(es []protocol.Entry) []protocol.Entry {
	timed := r.metrics.timeThis()
	var t0 time.Time
	if timed {
		t0 = time.Now()
	}
	n := 0
	for i := range es {
		e := &es[i]
		pc := r.candidates(e.Payload)
		if !r.scopeFree || !pc.empty() || !r.metaQuiet(e.Metadata) {
			if _, drop := r.apply(e, pc); drop {
				continue
			}
		}
		if n != i {
			es[n] = es[i]
		}
		n++
	}
	if timed {
		r.metrics.nanos.Add(int64(time.Since(t0)) * sampleEvery)
	}
	return es[:n]
}

// Apply redacts one entry in place and returns the names of the rules that
// fired and whether the entry is to be dropped (for redact-test and tests;
// the intake calls Filter).
func (r *Redactor) Apply(e *protocol.Entry) (fired []string, drop bool) {
	set, drop := r.apply(e, r.candidates(e.Payload))
	for i := range r.rules {
		if set.has(i) {
			fired = append(fired, r.rules[i].name)
		}
	}
	return fired, drop
}

// applies reports whether rule i applies to e.
func (r *Redactor) applies(ru *rule, inTop bool, e *protocol.Entry) bool {
	if ru.top {
		return inTop
	}
	return ru.scope.all() || ru.scope.covers(e.Source, e.EntryType)
}

// live returns the rules with a finder that apply to e.
func (r *Redactor) live(e *protocol.Entry, inTop bool) bitset {
	var live bitset
	r.finders.each(func(i int) {
		if r.applies(&r.rules[i], inTop, e) {
			live.set(i)
		}
	})
	return live
}

// metaQuiet reports whether no rule can take a pair of md by its key, and
// no value holds the anchors of any rule: Filter's cheap test, with which
// an entry whose payload has no candidate rules either is done at once.
func (r *Redactor) metaQuiet(md []protocol.KV) bool {
	for k := range md {
		kv := &md[k]
		if r.mayTakeKey(kv.Key) && r.keyAction(kv.Key) >= 0 || !r.candidates(kv.Value).empty() {
			return false
		}
	}
	return true
}

// apply looks for matches first (no allocation) and rewrites the entry
// only when there are some; pc are the payload's candidate rules
// (candidates). It returns the rules that fired and whether a drop_entry
// rule did.
func (r *Redactor) apply(e *protocol.Entry, pc bitset) (fired bitset, drop bool) {
	inTop := r.scopeFree || r.top.all() || r.top.covers(e.Source, e.EntryType)
	live := r.finders
	if !r.scopeFree {
		live = r.live(e, inTop)
	}
	payloadHits := r.run(pc.and(live), e.Payload)
	metaHit := false
	for k := range e.Metadata {
		kv := &e.Metadata[k]
		if inTop && r.mayTakeKey(kv.Key) && r.keyAction(kv.Key) >= 0 {
			metaHit = true
			break
		}
		if len(kv.Value) >= r.shortest && !r.hits(&live, kv.Value).empty() {
			metaHit = true
			break
		}
	}
	if payloadHits.empty() && !metaHit {
		return fired, false
	}
	// Something matched: a drop_entry rule ends it here.
	if d := r.dropRule(e, &live, payloadHits, inTop); d >= 0 {
		ru := &r.rules[d]
		ru.stats.Drops.Add(1)
		fired.set(d)
		return fired, true
	}
	if !payloadHits.empty() {
		e.Payload = r.rewrite(e.Payload, payloadHits, &fired)
	}
	if metaHit {
		e.Metadata = r.rewriteMeta(e.Metadata, &live, inTop, &fired)
	}
	if !fired.empty() {
		e.Metadata = r.mark(e.Metadata, fired)
	}
	r.fit(e)
	return fired, false
}

// mayTakeKey is keyAction's first test, cheap enough to inline: false
// when no rule can take the pair whole by this key.
func (r *Redactor) mayTakeKey(key []byte) bool {
	return r.byKey || r.kvKeys >= 0 && maybeSecretKey(key)
}

// keyAction returns the rule index that takes a metadata pair whole by its
// key (drop_keys, keys, kv_secrets), or -1.
func (r *Redactor) keyAction(key []byte) int {
	for i := range r.dropKeys {
		if r.dropKeys[i].match(key) {
			return r.dropIdx
		}
	}
	for i := range r.keys {
		if r.keys[i].match(key) {
			return r.keysIdx
		}
	}
	if r.kvKeys >= 0 && maybeSecretKey(key) && secretKey(key) {
		return r.kvKeys
	}
	return -1
}

// candidates returns the rules that may match text: those whose anchors
// text holds (or that have none), and that a text of its length can match.
func (r *Redactor) candidates(text []byte) bitset {
	if len(text) < r.shortest {
		return bitset{}
	}
	var have uint16
	if len(text) < wideText {
		have = anchorsShort(text)
	} else {
		have = anchors(text)
	}
	c := r.always
	for ; have != 0; have &= have - 1 {
		c.union(r.byAnchor[bits.TrailingZeros16(have)])
	}
	return c
}

// run returns the rules of c that match text.
func (r *Redactor) run(c bitset, text []byte) (hits bitset) {
	for x := c.lo; x != 0; x &= x - 1 {
		r.try(&hits, bits.TrailingZeros64(x), text)
	}
	for x := c.hi; x != 0; x &= x - 1 {
		r.try(&hits, 64+bits.TrailingZeros64(x), text)
	}
	return hits
}

// hits returns the rules among live that match text.
func (r *Redactor) hits(live *bitset, text []byte) bitset {
	return r.run(r.candidates(text).and(*live), text)
}

// try runs rule i on text, and adds it to hits when it matches.
func (r *Redactor) try(hits *bitset, i int, text []byte) {
	if ru := &r.rules[i]; len(text) >= ru.minLen {
		if s, _ := ru.find(text, 0); s >= 0 {
			hits.set(i)
		}
	}
}

// dropRule returns the first drop_entry rule that matches e, or -1.
func (r *Redactor) dropRule(e *protocol.Entry, live *bitset, payloadHits bitset, inTop bool) int {
	hits := payloadHits
	for k := range e.Metadata {
		kv := &e.Metadata[k]
		if inTop {
			if i := r.keyAction(kv.Key); i >= 0 {
				hits.set(i)
				continue
			}
		}
		hits.union(r.hits(live, kv.Value))
	}
	for i := range r.rules {
		if hits.has(i) && r.rules[i].action == ActionDropEntry {
			return i
		}
	}
	return -1
}

type span struct{ start, end, rule int }

// rewrite returns p with every match of the rules in hits replaced.
// Overlapping matches are joined, so no part of either is left.
func (r *Redactor) rewrite(p []byte, hits bitset, fired *bitset) []byte {
	var spans []span
	for i := range r.rules {
		if !hits.has(i) {
			continue
		}
		find := r.rules[i].find
		for from := 0; from < len(p); {
			s, e := find(p, from)
			if s < 0 {
				break
			}
			if e > s {
				spans = append(spans, span{s, e, i})
			}
			from = max(e, s+1)
		}
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end
	})
	out := make([]byte, 0, len(p)+32)
	last := 0
	for k := 0; k < len(spans); {
		sp := spans[k]
		r.hit(sp.rule, fired)
		for k++; k < len(spans) && spans[k].start < sp.end; k++ {
			sp.end = max(sp.end, spans[k].end)
			r.hit(spans[k].rule, fired)
		}
		out = append(out, p[last:sp.start]...)
		out = r.replace(out, sp.rule, p[sp.start:sp.end])
		last = sp.end
	}
	return append(out, p[last:]...)
}

func (r *Redactor) hit(i int, fired *bitset) {
	r.rules[i].stats.Matches.Add(1)
	fired.set(i)
}

// replace appends what stands for a match of rule i: [REDACTED:rule], or
// with action hash [HASH:rule:<the first 8 bytes of HMAC-SHA256, in hex>].
func (r *Redactor) replace(dst []byte, i int, match []byte) []byte {
	ru := &r.rules[i]
	if ru.action == ActionHash && r.hashKey != nil {
		m := hmac.New(sha256.New, r.hashKey)
		m.Write(match)
		sum := m.Sum(nil)
		dst = append(dst, "[HASH:"...)
		dst = append(dst, ru.name...)
		dst = append(dst, ':')
		return append(hex.AppendEncode(dst, sum[:8]), ']')
	}
	dst = append(dst, "[REDACTED:"...)
	dst = append(dst, ru.name...)
	return append(dst, ']')
}

// rewriteMeta returns a new metadata list (the decoder's is shared by the
// entries of a batch): pairs dropped or masked by key, values redacted.
func (r *Redactor) rewriteMeta(md []protocol.KV, live *bitset, inTop bool, fired *bitset) []protocol.KV {
	out := make([]protocol.KV, 0, len(md)+1)
	for _, kv := range md {
		if inTop {
			if i := r.keyAction(kv.Key); i >= 0 {
				r.hit(i, fired)
				if i == r.dropIdx {
					continue
				}
				kv.Value = r.replace(nil, i, kv.Value)
				out = append(out, kv)
				continue
			}
		}
		if hits := r.hits(live, kv.Value); !hits.empty() {
			kv.Value = r.rewrite(kv.Value, hits, fired)
		}
		out = append(out, kv)
	}
	return out
}

// mark sets the marker key to the names of the rules that fired, replacing
// any value the client gave it (metadata keys are unique).
func (r *Redactor) mark(md []protocol.KV, fired bitset) []protocol.KV {
	var v []byte
	for i := range r.rules {
		if fired.has(i) {
			if len(v)+1+len(r.rules[i].name) > protocol.MaxMetaValueChars {
				break
			}
			if len(v) > 0 {
				v = append(v, ',')
			}
			v = append(v, r.rules[i].name...)
		}
	}
	for k := range md {
		if string(md[k].Key) == string(r.marker) {
			md = slices.Clone(md) // the decoder's list may be shared
			md[k].Value = v
			return md
		}
	}
	// A full slice expression: appending never writes into the decoder's
	// list, which the next entry of a batch shares.
	return append(md[:len(md):len(md)], protocol.KV{Key: r.marker, Value: v})
}

// fit keeps a redacted entry within the contract's limits: a replacement
// can be longer than what it replaced. Whatever is cut was already
// redacted, so nothing secret is kept by cutting; cuts fall on character
// boundaries and are counted.
func (r *Redactor) fit(e *protocol.Entry) {
	if len(e.Payload) > protocol.MaxPayloadBytes {
		e.Payload = cutBytes(e.Payload, protocol.MaxPayloadBytes)
		r.metrics.truncated.Add(1)
	}
	total := 0
	for k := range e.Metadata {
		kv := &e.Metadata[k]
		if n := utf8.RuneCount(kv.Value); n > protocol.MaxMetaValueChars {
			kv.Value = cutChars(kv.Value, protocol.MaxMetaValueChars)
			r.metrics.truncated.Add(1)
		}
		total += utf8.RuneCount(kv.Key) + utf8.RuneCount(kv.Value)
	}
	// Over the total: shorten values from the last, the marker excepted.
	for k := len(e.Metadata) - 1; k >= 0 && total > protocol.MaxMetaChars; k-- {
		kv := &e.Metadata[k]
		if string(kv.Key) == string(r.marker) {
			continue
		}
		n := utf8.RuneCount(kv.Value)
		keep := max(0, n-(total-protocol.MaxMetaChars))
		kv.Value = cutChars(kv.Value, keep)
		total -= n - keep
		r.metrics.truncated.Add(1)
	}
}

// cutBytes returns the longest prefix of b of at most n bytes that ends on
// a character boundary.
func cutBytes(b []byte, n int) []byte {
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}

// cutChars returns the first n characters of b.
func cutChars(b []byte, n int) []byte {
	i := 0
	for ; n > 0 && i < len(b); n-- {
		_, size := utf8.DecodeRune(b[i:])
		i += size
	}
	return b[:i]
}

// Live holds the redactor in force; a reload swaps it whole, and every
// connection sees the new one with its next message. Its counters outlive
// the swaps.
type Live struct {
	cur     atomic.Pointer[Redactor]
	metrics *Metrics
}

// NewLive returns a holder with redaction off.
func NewLive() *Live { return &Live{metrics: NewMetrics()} }

// Compile builds a redactor for c that counts into the holder's metrics.
func (l *Live) Compile(c *Config) (*Redactor, error) { return New(c, l.metrics) }

// Set puts r in force (nil: redaction off).
func (l *Live) Set(r *Redactor) { l.cur.Store(r) }

// Metrics returns the counters of every redactor the holder held.
func (l *Live) Metrics() *Metrics { return l.metrics }

// Filter is Redactor.Filter with the redactor in force; with none, the
// entries pass as they are.
func (l *Live) Filter(es []protocol.Entry) []protocol.Entry {
	if r := l.cur.Load(); r != nil {
		return r.Filter(es)
	}
	return es
}

// String describes the redactor for logs.
func (r *Redactor) String() string {
	names := make([]string, 0, len(r.rules))
	for _, ru := range r.rules[:len(r.rules)-2] {
		names = append(names, ru.name)
	}
	return fmt.Sprintf("rules %v, %d keys masked, %d keys dropped", names, len(r.keys), len(r.dropKeys))
}
