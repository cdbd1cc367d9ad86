package redact

import (
	"bytes"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// A finder returns the first match in p at or after from, as [start, end),
// or -1, -1. Every finder starts with a cheap byte scan (bytes.IndexByte on
// a byte the match must hold, or a skipping probe) so that a line without
// that byte costs a few nanoseconds; only a hit is looked at closely.
type finder func(p []byte, from int) (int, int)

// detector is a built-in detector.
type detector struct {
	name   string
	minLen int    // shorter texts cannot hold a match
	need   uint16 // anchor bits (prefilter.go), one of which every match holds (0: none)
	find   finder
}

// detectors lists the built-in detectors, in the order they run.
var detectors = []detector{
	{"card", 13, aCard, findCard},
	{"email", 6, aAt, findEmail},
	{"bearer", 23, aB, findBearer},
	{"jwt", 24, aJ, findJWT},
	{"aws", 20, aA | aKV, findAWS},
	{"github", 40, aUnder, findGitHub},
	{"gitlab", 25, aDash, findGitLab},
	{"slack", 15, aDash | aDot, findSlack},
	{"private_key", 40, aDash, findPrivateKey},
	{"kv_secrets", 3, aKV, findKVSecret},
	{"ip", 2, aDot | aKV, findIP},
}

func detectorByName(name string) *detector {
	for i := range detectors {
		if detectors[i].name == name {
			return &detectors[i]
		}
	}
	return nil
}

func detectorNames() []string {
	names := make([]string, len(detectors))
	for i, d := range detectors {
		names[i] = d.name
	}
	return names
}

// Byte classes.
const (
	cDigit = 1 << iota // 0-9
	cAlpha             // A-Z a-z
	cUpper             // A-Z
	cWord              // letters, digits, '_', '-'
	cB64               // letters, digits, '+', '/'
	cEmail             // what an e-mail address's local part may hold here: letters, digits, "._%+-"
	cHost              // letters, digits, '.', '-'
	cCard              // digits, ' ', '-'
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		digit, upper, lower := '0' <= b && b <= '9', 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z'
		alnum := digit || upper || lower
		var m uint8
		if digit {
			m |= cDigit | cCard
		}
		if upper || lower {
			m |= cAlpha
		}
		if upper {
			m |= cUpper
		}
		if alnum || b == '_' || b == '-' {
			m |= cWord
		}
		if alnum || b == '+' || b == '/' {
			m |= cB64
		}
		if alnum || strings.IndexByte("._%+-", b) >= 0 || b >= 0x80 {
			m |= cEmail // with the bytes of non-ASCII characters (RFC 6531)
		}
		if alnum || b == '.' || b == '-' || b >= 0x80 {
			m |= cHost // with internationalised domain names
		}
		if b == ' ' || b == '-' {
			m |= cCard
		}
		t[c] = m
	}
	return t
}()

func is(p []byte, i int, c uint8) bool { return i >= 0 && i < len(p) && class[p[i]]&c != 0 }

// run returns the end of the run of class c bytes starting at i.
func run(p []byte, i int, c uint8) int {
	for i < len(p) && class[p[i]]&c != 0 {
		i++
	}
	return i
}

// runBack returns the start of the run of class c bytes ending at i.
func runBack(p []byte, i, from int, c uint8) int {
	for i > from && class[p[i-1]]&c != 0 {
		i--
	}
	return i
}

func hasFold(p []byte, i int, lit string) bool {
	return i >= 0 && i+len(lit) <= len(p) && eqFold(p[i:i+len(lit)], lit, true)
}

func hasAt(p []byte, i int, lit string) bool {
	return i >= 0 && i+len(lit) <= len(p) && string(p[i:i+len(lit)]) == lit
}

// index is bytes.IndexByte(p[from:], c) as a position in p.
func index(p []byte, from int, c byte) int {
	if from >= len(p) {
		return -1
	}
	if i := bytes.IndexByte(p[from:], c); i >= 0 {
		return from + i
	}
	return -1
}

// twoBytes yields, in order, the positions of either of two bytes, with
// one bytes.IndexByte scan for each.
type twoBytes struct {
	p            []byte
	a, b         byte
	nextA, nextB int
}

func scanTwo(p []byte, from int, a, b byte) twoBytes {
	return twoBytes{p: p, a: a, b: b, nextA: index(p, from, a), nextB: index(p, from, b)}
}

// next returns the next position, or -1.
func (t *twoBytes) next() int {
	switch {
	case t.nextA < 0 && t.nextB < 0:
		return -1
	case t.nextA < 0 || (t.nextB >= 0 && t.nextB < t.nextA):
		i := t.nextB
		t.nextB = index(t.p, i+1, t.b)
		return i
	}
	i := t.nextA
	t.nextA = index(t.p, i+1, t.a)
	return i
}

// skip moves past position e.
func (t *twoBytes) skip(e int) {
	if t.nextA >= 0 && t.nextA < e {
		t.nextA = index(t.p, e, t.a)
	}
	if t.nextB >= 0 && t.nextB < e {
		t.nextB = index(t.p, e, t.b)
	}
}

// Payment cards: 13 to 19 digits, either contiguous or in groups with one
// consistent separator (space or dash) in the layouts cards are printed in
// (4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4 …), beginning with an issuer's first
// digit (2-series Mastercard 2221-2720, 3, 4, 5, 6) and passing Luhn.
//
// The scan probes every 13th byte: a card needs 13 bytes in a row of
// digits and separators, so a probe that hits anything else rules out
// every card that would cover it.
func findCard(p []byte, from int) (int, int) {
	for i := from + 12; i < len(p); {
		c := class[p[i]]
		// A separator inside a card has a digit on each side.
		if c&cCard == 0 || c&cDigit == 0 && !(is(p, i-1, cDigit) && is(p, i+1, cDigit)) {
			i += 13
			continue
		}
		s, e := runBack(p, i, from, cCard), run(p, i, cCard)
		if e-s >= 13 {
			if a, b := cardInRun(p, s, e); a >= 0 {
				return a, b
			}
		}
		i = e + 13
	}
	return -1, -1
}

// cardInRun finds a card among the digit groups of p[s:e], a run of
// digits and separators.
func cardInRun(p []byte, s, e int) (int, int) {
	var starts, lens [24]int
	n := 0
	for i := s; i < e && n < len(starts); {
		if class[p[i]]&cDigit == 0 {
			i++
			continue
		}
		j := run(p, i, cDigit)
		starts[n], lens[n] = i, j-i
		n++
		i = j
	}
	for g := 0; g < n; g++ {
		a := starts[g]
		if is(p, a-1, cAlpha) || hasAt(p, a-1, "_") {
			continue // part of an identifier
		}
		if l := lens[g]; l >= 13 && l <= 19 {
			if end := a + l; !is(p, end, cAlpha) && cardNumber(p[a:end]) {
				return a, end
			}
			continue
		}
		if lens[g] != 4 || g+1 >= n {
			continue
		}
		sep := p[starts[g]+4]
		total, k := 4, g+1
		var buf [6]int // a layout has at most 5 groups, and one more is looked at
		layout := append(buf[:0], 4)
		for ; k < n && len(layout) < 5; k++ {
			gap := starts[k] - (starts[k-1] + lens[k-1])
			if gap != 1 || p[starts[k]-1] != sep || total+lens[k] > 19 {
				break
			}
			total += lens[k]
			layout = append(layout, lens[k])
			if cardLayout(layout) && total >= 13 {
				end := starts[k] + lens[k]
				if next := k + 1; (next >= n || !(starts[next]-end == 1 && p[end] == sep && total+lens[next] <= 19 && cardLayout(append(layout, lens[next])))) &&
					!is(p, end, cAlpha) && cardNumber(digitsOf(p[a:end], new([19]byte))) {
					return a, end
				}
			}
		}
	}
	return -1, -1
}

// cardLayout reports whether groups is (a prefix of) a printed card layout
// that is complete: 4-4-4-1..4, 4-4-4-4-1..3, 4-6-4, 4-6-5.
func cardLayout(groups []int) bool {
	switch len(groups) {
	case 3:
		return groups[0] == 4 && groups[1] == 6 && (groups[2] == 4 || groups[2] == 5)
	case 4:
		return groups[0] == 4 && groups[1] == 4 && groups[2] == 4 && groups[3] >= 1 && groups[3] <= 4
	case 5:
		return groups[0] == 4 && groups[1] == 4 && groups[2] == 4 && groups[3] == 4 && groups[4] <= 3
	}
	return false
}

// digitsOf returns the digits of b, a card of at most 19, in buf.
func digitsOf(b []byte, buf *[19]byte) []byte {
	out := buf[:0]
	for _, c := range b {
		if class[c]&cDigit != 0 {
			out = append(out, c)
		}
	}
	return out
}

// cardNumber checks an issuer's first digits and the Luhn checksum.
func cardNumber(d []byte) bool {
	switch d[0] {
	case '3', '4', '5', '6':
	case '2':
		if n := int(d[1]-'0')*100 + int(d[2]-'0')*10 + int(d[3]-'0'); n < 221 || n > 720 {
			return false
		}
	default:
		return false
	}
	return luhn(d)
}

func luhn(d []byte) bool {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if (len(d)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// E-mail addresses: local@domain.tld, found from the '@'.
func findEmail(p []byte, from int) (int, int) {
	for at := index(p, from, '@'); at >= 0; at = index(p, at+1, '@') {
		s := runBack(p, at, max(from, at-64), cEmail)
		for s < at && (p[s] == '.' || p[s] == '-' || !utf8.RuneStart(p[s])) {
			s++
		}
		if s == at || urlUserinfo(p, s, from) {
			continue
		}
		e := run(p, at+1, cHost)
		for e > at+1 && (p[e-1] == '.' || p[e-1] == '-') {
			e--
		}
		dot := bytes.LastIndexByte(p[at+1:e], '.')
		if dot <= 0 || e-(at+1+dot+1) < 2 || run(p, at+1+dot+1, cAlpha) != e {
			continue // no dot, or no TLD of letters
		}
		return s, e
	}
	return -1, -1
}

// urlUserinfo reports whether the text at s follows "scheme://user:" (a
// URL's credentials, which kv_secrets redacts, are not an e-mail address).
func urlUserinfo(p []byte, s, from int) bool {
	if s-1 < from || p[s-1] != ':' {
		return false
	}
	for i := s - 2; i >= from+2 && s-i < 256; i-- {
		switch p[i] {
		case '/':
			return p[i-1] == '/' && p[i-2] == ':'
		case ' ', '\t', '"', '@':
			return false
		}
	}
	return false
}

// Bearer tokens: "Bearer" (any case) then a token of at least 16
// characters; only the token is redacted.
func findBearer(p []byte, from int) (int, int) {
	bs := scanTwo(p, from, 'b', 'B')
	for i := bs.next(); i >= 0; i = bs.next() {
		if !hasFold(p, i, "bearer") || is(p, i-1, cAlpha) {
			continue
		}
		j := i + 6
		k := j
		for k < len(p) && (p[k] == ' ' || p[k] == '\t') {
			k++
		}
		if k == j {
			continue
		}
		if a, b := authToken(p, k); a >= 0 {
			return a, b
		}
	}
	return -1, -1
}

// authToken is the token68 of an Authorization header at i, of at least
// 16 characters.
func authToken(p []byte, i int) (int, int) {
	e := i
	for e < len(p) && (class[p[e]]&(cB64|cWord) != 0 || p[e] == '.' || p[e] == '~') {
		e++
	}
	for e < len(p) && p[e] == '=' {
		e++
	}
	if e-i < 16 {
		return -1, -1
	}
	return i, e
}

// JWTs: three base64url segments separated by dots, the first starting
// "eyJ" (`{"` encoded); found from the 'J'.
func findJWT(p []byte, from int) (int, int) {
	for j := index(p, from+2, 'J'); j >= 0; j = index(p, j+1, 'J') {
		s := j - 2
		if p[s] != 'e' || p[s+1] != 'y' || is(p, s-1, cWord) {
			continue
		}
		e1 := run(p, s, cWord)
		if e1-s < 10 || !hasAt(p, e1, ".") {
			continue
		}
		e2 := run(p, e1+1, cWord)
		if e2-(e1+1) < 10 || !hasAt(p, e2, ".") {
			continue
		}
		return s, run(p, e2+1, cWord)
	}
	return -1, -1
}

// AWS: access key ids (AKIA, ASIA, ABIA, ACCA, A3T… then upper-case letters
// and digits, 20 in all), and secret access keys: 40 base64 characters as
// the value of a key naming them (aws_secret_access_key, SecretAccessKey).
func findAWS(p []byte, from int) (int, int) {
	ka, kb := findAWSKeyID(p, from)
	sa, sb := findAWSSecret(p, from)
	if ka >= 0 && (sa < 0 || ka < sa) {
		return ka, kb
	}
	return sa, sb
}

func findAWSSecret(p []byte, from int) (int, int) {
	for {
		a, b := findKV(p, from, awsSecretKey, 40)
		if a < 0 || b-a == 40 {
			return a, b
		}
		from = b
	}
}

func awsSecretKey(k []byte) bool {
	var buf [64]byte
	l := normKey(k, &buf)
	return bytes.Contains(l, []byte("secretaccesskey")) || bytes.HasPrefix(l, []byte("aws")) && bytes.Contains(l, []byte("secret"))
}

// normKey lowercases a key and leaves out '_', '-' and '.', so that
// api_key, API-KEY and apiKey compare alike; nil when over 64 bytes.
func normKey(k []byte, buf *[64]byte) []byte {
	if len(k) > len(buf) {
		return nil
	}
	n := 0
	for _, c := range k {
		if c == '_' || c == '-' || c == '.' {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	return buf[:n]
}

func findAWSKeyID(p []byte, from int) (int, int) {
	for i := index(p, from, 'A'); i >= 0; i = index(p, i+1, 'A') {
		if i+20 > len(p) || is(p, i-1, cWord) {
			continue
		}
		if !hasAt(p, i, "AKIA") && !hasAt(p, i, "ASIA") && !hasAt(p, i, "ABIA") && !hasAt(p, i, "ACCA") && !(hasAt(p, i, "A3T") && class[p[i+3]]&(cUpper|cDigit) != 0) {
			continue
		}
		e := i + 4
		for e < len(p) && class[p[e]]&(cUpper|cDigit) != 0 {
			e++
		}
		if e-i == 20 && !is(p, e, cWord) {
			return i, e
		}
	}
	return -1, -1
}

// GitHub tokens: ghp_, gho_, ghu_, ghs_, ghr_ then 36 or more letters and
// digits; github_pat_ then 22 or more; found from the '_'.
func findGitHub(p []byte, from int) (int, int) {
	for u := index(p, from+3, '_'); u >= 0; u = index(p, u+1, '_') {
		if s := u - 6; hasAt(p, s, "github") && hasAt(p, u, "_pat_") && !is(p, s-1, cWord) {
			if e := run(p, u+5, cWord); e-(u+5) >= 22 {
				return s, e
			}
			continue
		}
		s := u - 3
		if p[s] != 'g' || p[s+1] != 'h' || strings.IndexByte("pousr", p[s+2]) < 0 || is(p, s-1, cWord) {
			continue
		}
		if e := run(p, u+1, cDigit|cAlpha); e-(u+1) >= 36 && !is(p, e, cWord) {
			return s, e
		}
	}
	return -1, -1
}

var gitlabPrefixes = []string{"glpat", "gldt", "glrt", "glptt", "glft", "glsoat", "glcbt", "gloas", "glimt", "glagent"}

// GitLab tokens: glpat- and the other gl…- prefixes, then 20 or more
// characters; found from the '-'.
func findGitLab(p []byte, from int) (int, int) {
	for d := index(p, from+4, '-'); d >= 0; d = index(p, d+1, '-') {
		// Every prefix starts with 'g', 4 to 7 bytes before the '-'.
		if !(p[d-4] == 'g' || d-5 >= from && p[d-5] == 'g' || d-6 >= from && p[d-6] == 'g' || d-7 >= from && p[d-7] == 'g') {
			continue
		}
		for _, pre := range gitlabPrefixes {
			s := d - len(pre)
			if s < from || !hasAt(p, s, pre) || is(p, s-1, cWord) {
				continue
			}
			if e := run(p, d+1, cWord); e-(d+1) >= 20 {
				return s, e
			}
		}
	}
	return -1, -1
}

// Slack: xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe- and xapp- tokens (found
// from the '-'), and incoming-webhook URLs (found from the 'k' of slack.com).
func findSlack(p []byte, from int) (int, int) {
	ts, te := -1, -1
	for d := index(p, from+4, '-'); d >= 0; d = index(p, d+1, '-') {
		s := d - 4
		if !(hasAt(p, s, "xox") && strings.IndexByte("bpares", p[s+3]) >= 0 || hasAt(p, s, "xapp")) || is(p, s-1, cWord) {
			continue
		}
		if e := run(p, d+1, cWord); e-(d+1) >= 10 {
			ts, te = s, e
			break
		}
	}
	limit := len(p)
	if ts >= 0 {
		limit = ts
	}
	for k := index(p, from+4, 'k'); k >= 0 && k < limit; k = index(p, k+1, 'k') {
		s := k - 4
		if !hasAt(p, s, "slack.com/services/") {
			continue
		}
		if h := s - len("hooks."); hasAt(p, h, "hooks.") {
			s = h
		}
		e := s
		for e < len(p) && (class[p[e]]&(cWord|cHost) != 0 || p[e] == '/') {
			e++
		}
		if e-k > 30 {
			return s, e
		}
	}
	return ts, te
}

// Private key blocks: "-----BEGIN … PRIVATE KEY-----" to the matching END
// line, or to the end of the text when it was cut.
func findPrivateKey(p []byte, from int) (int, int) {
	for d := index(p, from, '-'); d >= 0; d = index(p, d+1, '-') {
		if !hasAt(p, d, "-----BEGIN ") {
			continue
		}
		head := p[d+11 : min(len(p), d+11+40)]
		k := bytes.Index(head, []byte("PRIVATE KEY-----"))
		if k < 0 {
			continue
		}
		body := d + 11 + k + 16
		if end := bytes.Index(p[body:], []byte("-----END ")); end >= 0 {
			if t := bytes.Index(p[body+end:], []byte("PRIVATE KEY-----")); t >= 0 {
				return d, body + end + t + 16
			}
		}
		return d, len(p)
	}
	return -1, -1
}

// Key-value secrets: the value after `password=`, `"token": "…"`,
// `api_key: …`, `Authorization: Basic …` and the like, in text and in JSON;
// and the password of a URL's user information (scheme://user:pass@host).
func findKVSecret(p []byte, from int) (int, int) {
	return findKV(p, from, secretKey, 1)
}

// secretSuffixes are what a secret's key ends with (case-insensitively,
// '-' and '_' ignored); secretKeys are keys that are secrets only whole.
var (
	secretSuffixes = []string{"password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey", "authorization", "credential", "credentials", "cookie", "sessionid", "signature"}
	secretKeys     = []string{"pwd", "pass"}
)

// maybeSecretKey is secretKey's first test, cheap enough to inline: a
// key's length, and its last letter, which must be one of those that
// secretSuffixes and secretKeys end with.
func maybeSecretKey(k []byte) bool {
	if len(k) < 3 || len(k) > 64 {
		return false
	}
	switch k[len(k)-1] | 0x20 {
	case 'd', 'e', 't', 'n', 'y', 'l', 's':
		return true
	}
	return false
}

// secretKey reports whether a key names a secret.
func secretKey(k []byte) bool {
	if !maybeSecretKey(k) {
		return false
	}
	var buf [64]byte
	l := normKey(k, &buf)
	for _, s := range secretSuffixes {
		if bytes.HasSuffix(l, []byte(s)) {
			return true
		}
	}
	return slices.Contains(secretKeys, string(l))
}

// findKV finds the first value at least minLen long whose key isKey
// accepts, after '=' or ':'; with isKey secretKey it also finds URL
// passwords.
func findKV(p []byte, from int, isKey func([]byte) bool, minLen int) (int, int) {
	seps := scanTwo(p, from, '=', ':')
	for i := seps.next(); i >= 0; i = seps.next() {
		if p[i] == ':' && hasAt(p, i+1, "//") {
			if minLen == 1 {
				if a, b := urlPassword(p, i+3); a >= 0 {
					return a, b
				}
			}
			continue
		}
		ks, ke := kvKey(p, i, from)
		if ks == ke || !isKey(p[ks:ke]) {
			continue
		}
		if a, b := kvValue(p, i+1, p[ks:ke]); b-a >= minLen {
			return a, b
		}
	}
	return -1, -1
}

// kvKey finds the key before the separator at i: word characters and
// dots, maybe quoted, maybe followed by spaces when quoted.
func kvKey(p []byte, i, from int) (int, int) {
	e := i
	quoted := false
	for e > from && p[e-1] == ' ' {
		e--
	}
	if e > from && (p[e-1] == '"' || p[e-1] == '\'') {
		e--
		quoted = true
	} else if e != i {
		return i, i // "word : value" is prose, not a key
	}
	if e > from && p[e-1] == '\\' { // an escaped quote inside a JSON string
		return i, i
	}
	s := e
	for s > from && e-s < 64 && (class[p[s-1]]&cWord != 0 || p[s-1] == '.') {
		s--
	}
	if quoted && !(s > from && (p[s-1] == '"' || p[s-1] == '\'')) {
		return i, i
	}
	return s, e
}

var authSchemes = []string{"basic", "bearer", "digest", "negotiate", "token", "apikey", "aws4-hmac-sha256"}

// kvValue is the value after a separator at i: quoted, or up to the next
// delimiter. For an Authorization header, the credentials after the scheme.
func kvValue(p []byte, i int, key []byte) (int, int) {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t') {
		i++
	}
	if i >= len(p) {
		return i, i
	}
	if q := p[i]; q == '"' || q == '\'' {
		s := i + 1
		e := s
		for e < len(p) && p[e] != q {
			if p[e] == '\\' {
				e++
			}
			e++
		}
		return s, min(e, len(p))
	}
	switch p[i] {
	case '{', '[':
		return i, i // a nested object: its keys are looked at one by one
	}
	e := i
	for e < len(p) && !valueEnd(p[e]) {
		e++
	}
	if hasAt(p, i, "null") && e-i == 4 || hasAt(p, i, "true") && e-i == 4 || hasAt(p, i, "false") && e-i == 5 {
		return i, i
	}
	if e < len(p) && p[e] == ' ' && (hasSuffixFold(key, "auth") || hasSuffixFold(key, "authorization")) {
		for _, s := range authSchemes {
			if e-i == len(s) && eqFold(p[i:e], s, true) {
				if a, b := authToken(p, e+1); a >= 0 {
					return a, b
				}
				k := e + 1
				for k < len(p) && !valueEnd(p[k]) {
					k++
				}
				return e + 1, k
			}
		}
	}
	return i, e
}

func hasSuffixFold(b []byte, lit string) bool {
	return len(b) >= len(lit) && eqFold(b[len(b)-len(lit):], lit, true)
}

func valueEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ';', '&', '"', '\'', ')', ']', '}', '<', '>':
		return true
	}
	return false
}

// urlPassword finds the password in the user information of a URL whose
// "//" ends before i: user:password@host.
func urlPassword(p []byte, i int) (int, int) {
	colon := -1
	for e := i; e < len(p) && e-i < 256; e++ {
		switch c := p[e]; {
		case c == ':' && colon < 0:
			colon = e
		case c == '@':
			if colon > i && e > colon+1 {
				return colon + 1, e
			}
			return -1, -1
		case c == '/' || c == ' ' || c == '"' || c == '\t' || c == '\n' || c == '?' || c == '#':
			return -1, -1
		}
	}
	return -1, -1
}

// IP addresses (off by default): IPv4 dotted quads found from their dots,
// IPv6 addresses found from their colons, each checked by netip.
func findIP(p []byte, from int) (int, int) {
	seps := scanTwo(p, from, '.', ':')
	for i := seps.next(); i >= 0; i = seps.next() {
		s, e := i, i
		for s > from && (class[p[s-1]]&cDigit != 0 || isHex(p[s-1]) || p[s-1] == '.' || p[s-1] == ':') {
			s--
		}
		for e < len(p) && (class[p[e]]&cDigit != 0 || isHex(p[e]) || p[e] == '.' || p[e] == ':') {
			e++
		}
		for e > s && (p[e-1] == '.' || p[e-1] == ':' && !(e-2 >= s && p[e-2] == ':')) {
			e--
		}
		for s < e && (p[s] == '.' || p[s] == ':' && !(s+1 < e && p[s+1] == ':')) {
			s++
		}
		if e-s < 2 || is(p, s-1, cWord) || is(p, e, cWord) {
			continue
		}
		if a, err := netip.ParseAddr(string(p[s:e])); err == nil && (a.Is4() && bytes.Count(p[s:e], []byte(".")) == 3 || a.Is6()) {
			return s, e
		}
		seps.skip(e) // the rest of this token
	}
	return -1, -1
}

func isHex(c byte) bool { return 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// regexFinder runs a custom rule's expression, after a byte scan for a
// literal every match must contain, when the expression has one.
func regexFinder(re *regexp.Regexp) (finder, int) {
	lit, minLen := requiredLiteral(re.String())
	litB := []byte(lit)
	return func(p []byte, from int) (int, int) {
		if len(litB) > 0 && !bytes.Contains(p[from:], litB) {
			return -1, -1
		}
		loc := re.FindIndex(p[from:])
		if loc == nil {
			return -1, -1
		}
		if loc[0] == loc[1] { // an empty match (Validate refuses such patterns, but be safe)
			return -1, -1
		}
		return from + loc[0], from + loc[1]
	}, minLen
}

// requiredLiteral returns the longest case-sensitive literal that every
// match of the expression contains, and the shortest match's length.
func requiredLiteral(expr string) (string, int) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", 1
	}
	re = re.Simplify()
	return longestLiteral(re), max(1, minLength(re))
}

func longestLiteral(re *syntax.Regexp) string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return ""
		}
		return string(re.Rune)
	case syntax.OpCapture, syntax.OpPlus:
		return longestLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min > 0 {
			return longestLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		best := ""
		for _, s := range re.Sub {
			if l := longestLiteral(s); len(l) > len(best) {
				best = l
			}
		}
		return best
	}
	return ""
}

// minLength is the fewest bytes a match of re can have.
func minLength(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(string(re.Rune))
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLength(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLength(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLength(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minLength(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	}
	return 0
}
