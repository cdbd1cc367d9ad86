// Package record is the normalised entry as the queue holds it and every output receives it: its layout, and the one way to read it.
//
// # Layout
//
// A record is one JSON object, UTF-8, without a trailing newline, whose
// members come in this order:
//
//		{"id":"<uuid v7>","receivedAt":"<RFC 3339, UTC, ns>",["input":"<name>",]
//		 "version":"1.0","timestamp":"<RFC 3339, UTC>","entryType":<1-7>,
//		 "logLevel":<1-8>,"source":"…","payloadType":"…","payload":"…"
//		 [,"metadata":{"k":"v",…}]}
//
//	  - id: unique per entry (UUID version 7, time-ordered): how a consumer
//	    recognises a duplicate after a crash or retry. Entries of the file
//	    input have a UUID version 8 made from the file and the line's offset
//	    instead, so that a line read again after a crash keeps its id.
//	  - receivedAt: when the agent read the entry.
//	  - input: the name of the input the entry came from (absent in records
//	    written before inputs had names).
//	  - the rest are the contract's fields (docs/protocol.md) with defaults
//	    applied: timestamp in UTC (receivedAt when the client sent none),
//	    payloadType "generic" when absent, metadata only when not empty.
//
// Records are written by the Agent API's hot path
// (protocol.AppendRecordStamp, which formats the fixed members once per read
// and copies them) and read here; TestWriterAndReaderAgree keeps the two the
// same. Outputs that need fields call Parse, which reads this layout
// directly (fast.go) and anything else with encoding/json; outputs that pass
// records on whole (file, stdout) do not parse them at all.
package record

import (
	"encoding/json"
	"fmt"
)

// Entry is a record read back.
type Entry struct {
	ID          string            `json:"id"`
	ReceivedAt  string            `json:"receivedAt"`
	Input       string            `json:"input,omitempty"`
	Version     string            `json:"version"`
	Timestamp   string            `json:"timestamp"`
	EntryType   int               `json:"entryType"`
	LogLevel    int               `json:"logLevel"`
	Source      string            `json:"source"`
	PayloadType string            `json:"payloadType"`
	Payload     string            `json:"payload"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// Parse reads a record: the layout the agent writes directly, anything else
// with encoding/json.
func Parse(rec []byte) (Entry, error) {
	if e, ok := parseLayout(rec); ok {
		return e, nil
	}
	return parseJSON(rec)
}

// parseJSON reads a record with encoding/json.
func parseJSON(rec []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(rec, &e); err != nil {
		return Entry{}, fmt.Errorf("record is not an agent entry: %w", err)
	}
	return e, nil
}

// ID returns a record's id. The layout puts it first, so this does not
// parse the rest; a record of another shape is parsed whole.
func ID(rec []byte) (string, error) {
	const pre = `{"id":"`
	if n := len(pre) + 36; len(rec) > n && string(rec[:len(pre)]) == pre && rec[n] == '"' {
		return string(rec[len(pre):n]), nil
	}
	e, err := Parse(rec)
	if err != nil {
		return "", err
	}
	if e.ID == "" {
		return "", fmt.Errorf("record has no id")
	}
	return e.ID, nil
}
