package entrybuild

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logflux/agent/internal/protocol"
)

// contractMessage is how entries were built before protocol.Maker: the
// fitted fields as one Agent API message, read back by protocol.Decoder.
// The tests hold Add to the same records, so that the inputs' entries are
// exactly what the Agent API would make of the same values.
func contractMessage(f *Fields) []byte {
	var b Builder
	b.fields(f)
	pf := &b.pf
	dst := []byte(`{"payload":`)
	dst = protocol.AppendString(dst, string(pf.Payload))
	dst = append(dst, `,"entryType":1,"source":`...)
	dst = protocol.AppendString(dst, string(pf.Source))
	dst = append(dst, `,"logLevel":`...)
	dst = strconv.AppendInt(dst, int64(pf.LogLevel), 10)
	switch {
	case f.TimeText != "":
		dst = append(dst, `,"timestamp":`...)
		dst = protocol.AppendString(dst, f.TimeText)
	case !f.Time.IsZero() && f.Time.UTC().Year() > 0 && f.Time.UTC().Year() <= 9999:
		dst = append(dst, `,"timestamp":"`...)
		dst = f.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	if len(pf.PayloadType) > 0 {
		dst = append(dst, `,"payloadType":`...)
		dst = protocol.AppendString(dst, string(pf.PayloadType))
	}
	if len(pf.Metadata) > 0 {
		dst = append(dst, `,"metadata":{`...)
		for i, kv := range pf.Metadata {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = protocol.AppendString(dst, string(kv.Key))
			dst = append(dst, ':')
			dst = protocol.AppendString(dst, string(kv.Value))
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// viaDecoder is the record the Agent API's decoder makes of f, or its error.
func viaDecoder(f *Fields, stamp *protocol.Stamp) ([]byte, error) {
	var dec protocol.Decoder
	m, err := dec.Decode(contractMessage(f))
	if err != nil && f.TimeText != "" {
		// A time that is not RFC 3339 leaves the time of receipt.
		g := *f
		g.TimeText = ""
		return viaDecoder(&g, stamp)
	}
	if err != nil {
		return nil, err
	}
	return protocol.AppendRecordStamp(nil, &m.Entries[0], stamp), nil
}

// sameRecord compares two records as JSON, without their ids.
func sameRecord(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("record %q: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("record %q: %v", want, err)
	}
	delete(g, "id")
	delete(w, "id")
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("Add wrote\n  %s\nthe decoder makes\n  %s", got, want)
	}
}

func checkLikeDecoder(t *testing.T, f Fields) {
	t.Helper()
	recv := time.Date(2026, 12, 7, 5, 0, 0, 123000000, time.UTC)
	b := New("in", 1<<20, nil)
	b.Received(recv)
	fc := f
	fc.Metadata = append([]KV(nil), f.Metadata...)
	_, err := b.Add(&fc)
	want, werr := viaDecoder(&f, protocol.NewStamp(recv))
	if (err != nil) != (werr != nil) {
		t.Fatalf("%+v: Add says %v, the decoder %v", f, err, werr)
	}
	if err != nil {
		return
	}
	s := &protocol.Stamp{Input: "in"}
	s.Set(recv)
	want, _ = viaDecoder(&f, s)
	sameRecord(t, b.data, want)
}

// TestLikeTheDecoder: for every kind of value the inputs bring, Add writes
// the record the Agent API's decoder would make of the same entry.
func TestLikeTheDecoder(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	for _, f := range []Fields{
		{},
		{Payload: "plain", Source: "s", LogLevel: 3, PayloadType: "syslog", Time: ts, Metadata: []KV{{"k", "v"}}},
		{Payload: "quotes \" and \\ and \n\t\x01 controls", Source: "s\"", Metadata: []KV{{"k\n", "v\\"}}},
		{Payload: "a\xffb", Source: "s\xfe", LogLevel: 9, Metadata: []KV{{"\xff", "\xfe\xfd"}}},
		{Payload: "ünïcödé 日本 🎉", Source: "ß", Metadata: []KV{{"ключ", "значение"}}},
		{Payload: "p", Source: "s", Metadata: []KV{{"k", "1"}, {"k", "2"}, {"", "x"}}},
		{Payload: "p", Source: "s", Metadata: []KV{{"", "x"}}},
		{Payload: "p", Source: strings.Repeat("é", 300), Metadata: []KV{{"k", strings.Repeat("v", 2000)}}},
		{Payload: "p", PayloadType: "bad type!"},
		{Payload: "p", TimeText: "2026-12-07T03:20:00.123456Z"},
		{Payload: "p", TimeText: "2026-12-07T03:20:00.120+02:00"},
		{Payload: "p", TimeText: "2026-02-30T03:20:00Z"},
		{Payload: "p", TimeText: "yesterday"},
		{Payload: "p", Time: time.Date(1, 1, 1, 0, 30, 0, 0, time.FixedZone("y", 3600))},
		{Payload: strings.Repeat("x", protocol.MaxPayloadBytes+10), Source: "s"},
		{Payload: "p", Metadata: manyKeys(40)},
		{Payload: "p", Metadata: manyKeys(400)},
	} {
		checkLikeDecoder(t, f)
	}
}

func manyKeys(n int) []KV {
	kvs := make([]KV, n)
	for i := range kvs {
		kvs[i] = KV{"key" + strconv.Itoa(i%(n-3)), strings.Repeat("v", i)}
	}
	return kvs
}

func FuzzLikeTheDecoder(f *testing.F) {
	f.Add("payload", "source", "syslog", 7, "2026-12-07T03:20:00Z", "k", "v", "k", "w")
	f.Add("a\xffb\"", "", "", 0, "", "", "\x00", "é", "")
	f.Fuzz(func(t *testing.T, payload, source, ptype string, level int, ts, k1, v1, k2, v2 string) {
		checkLikeDecoder(t, Fields{Payload: payload, Source: source, PayloadType: ptype, LogLevel: level, TimeText: ts,
			Metadata: []KV{{k1, v1}, {k2, v2}}})
	})
}
