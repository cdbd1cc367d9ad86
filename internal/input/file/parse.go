package file

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"

	"github.com/logflux/agent/internal/protocol"
)

// line is one physical line parsed by its format.
type line struct {
	payload []byte
	ts      []byte // RFC 3339 text, or nil
	stream  string // docker, cri: "stdout", "stderr"
	level   int    // 0: the configured one
	partial bool   // docker, cri: more of this line follows
	json    bool   // format json: the line is a JSON document
	bad     bool   // the line could not be read in its format (sent as text)
	at      int64  // file offset where the entry starts (for its id)
	part    int    // of an entry split after it was gathered: 1, 2, …; else 0
}

// dockerLine is one line of Docker's json-file log driver.
type dockerLine struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

// parseLine reads raw (without its newline) in format.
func parseLine(format, levelField string, raw []byte) line {
	switch format {
	case FormatDocker:
		var d dockerLine
		if err := json.Unmarshal(raw, &d); err != nil || raw[0] != '{' {
			return line{payload: raw, bad: true}
		}
		l := line{payload: []byte(d.Log), stream: d.Stream}
		if d.Time != "" {
			l.ts = []byte(d.Time)
		}
		// Docker ends every complete line with "\n" and splits longer ones
		// into 16 KiB pieces that do not.
		if n := len(l.payload); n > 0 && l.payload[n-1] == '\n' {
			l.payload = l.payload[:n-1]
		} else {
			l.partial = true
		}
		return l
	case FormatCRI:
		// <RFC 3339 time> <stdout|stderr> <P|F>[:more tags] <message>
		ts, rest, ok1 := bytes.Cut(raw, []byte{' '})
		stream, rest, ok2 := bytes.Cut(rest, []byte{' '})
		tag, msg, ok3 := bytes.Cut(rest, []byte{' '})
		if !ok3 && ok2 && len(rest) > 0 { // "F" with an empty message
			tag, msg, ok3 = rest, nil, true
		}
		if !ok1 || !ok2 || !ok3 || len(tag) == 0 || (tag[0] != 'P' && tag[0] != 'F') {
			return line{payload: raw, bad: true}
		}
		return line{payload: msg, ts: ts, stream: string(stream), partial: tag[0] == 'P'}
	case FormatJSON:
		if !json.Valid(raw) {
			return line{payload: raw, bad: true}
		}
		l := line{payload: raw, json: true}
		if levelField != "" {
			l.level = jsonLevel(raw, levelField)
		}
		return l
	}
	return line{payload: raw}
}

// jsonLevel reads the level named by the top-level member field of a JSON
// object: a name ("error") or a number 1 to 8; 0 when absent or unknown.
func jsonLevel(raw []byte, field string) int {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return 0
	}
	v, ok := m[field]
	if !ok || len(v) == 0 {
		return 0
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0
		}
		return protocol.LevelByName([]byte(s))
	}
	return protocol.LevelByName(v)
}

// pathMeta is what a file's path says about its contents.
type pathMeta struct {
	source  string
	sourceB []byte
	kvs     []protocol.KV // file.path, and container ones
}

// metaFromPath reads container and Kubernetes metadata from a path:
//
//	/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
//	/var/log/containers/<pod>_<namespace>_<container>-<container id>.log
//	/var/lib/docker/containers/<id>/<id>-json.log
func metaFromPath(path, source string) pathMeta {
	m := pathMeta{source: source}
	if m.source == "" {
		m.source = filepath.Base(path)
	}
	m.sourceB = []byte(m.source)
	add := func(k, v string) {
		if v != "" {
			m.kvs = append(m.kvs, protocol.KV{Key: []byte(k), Value: []byte(v)})
		}
	}
	p := path
	if len(p) > protocol.MaxMetaValueChars {
		p = "…" + p[len(p)-protocol.MaxMetaValueChars+1:]
	}
	add("file.path", p)
	parts := strings.Split(filepath.ToSlash(path), "/")
	n := len(parts)
	switch {
	case n >= 4 && parts[n-4] == "pods":
		// <ns>_<pod>_<uid>/<container>/<n>.log
		if f := strings.Split(parts[n-3], "_"); len(f) == 3 {
			add("k8s.namespace", f[0])
			add("k8s.pod", f[1])
			add("k8s.pod_uid", f[2])
			add("k8s.container", parts[n-2])
		}
	case n >= 2 && parts[n-2] == "containers" && strings.HasSuffix(parts[n-1], ".log") && strings.Count(parts[n-1], "_") >= 2:
		// <pod>_<ns>_<container>-<id>.log
		base := strings.TrimSuffix(parts[n-1], ".log")
		f := strings.SplitN(base, "_", 3)
		cont, id := f[2], ""
		if i := strings.LastIndexByte(cont, '-'); i > 0 {
			cont, id = cont[:i], cont[i+1:]
		}
		add("k8s.pod", f[0])
		add("k8s.namespace", f[1])
		add("k8s.container", cont)
		add("container.id", id)
	case n >= 3 && parts[n-3] == "containers" && strings.HasSuffix(parts[n-1], "-json.log"):
		add("container.id", parts[n-2])
	}
	return m
}
