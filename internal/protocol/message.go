// Package protocol decodes and validates Agent API messages and encodes the agent's responses and normalised entries.
package protocol

import (
	"strconv"
	"time"
)

// Limits fixed by the contract.
const (
	Version           = "1.0"
	MaxPayloadBytes   = 1 << 20 // payload, bytes of UTF-8 after unescaping
	MaxSourceChars    = 256
	MaxPayloadType    = 64
	MaxMetaValueChars = 1024
	MaxMetaChars      = 1 << 20 // keys plus values, in characters
	MaxDepth          = 64      // nesting of JSON values the agent will read
	DefaultMaxBatch   = 100
)

// Error codes of the contract.
const (
	CodeInvalidJSON        = "invalid_json"
	CodeInvalidMessage     = "invalid_message"
	CodeInvalidEntry       = "invalid_entry"
	CodeBatchTooLarge      = "batch_too_large"
	CodeMessageTooLarge    = "message_too_large"
	CodeUnsupportedVersion = "unsupported_version"
	CodeUnknownAction      = "unknown_action"
	CodeAuthRequired       = "auth_required"
	CodeAuthFailed         = "auth_failed"
	CodeAuthTimeout        = "auth_timeout"
	CodeQueueFull          = "queue_full"
	CodeUnavailable        = "unavailable"
)

// Kind tells messages apart.
type Kind uint8

const (
	KindEntry Kind = iota + 1
	KindBatch
	KindPing
	KindAuthenticate
	KindFlush
)

// KV is one metadata pair.
type KV struct{ Key, Value []byte }

// Entry is one decoded, valid log entry. Its byte slices point into the
// decoder's buffers and are valid until the decoder's next Decode.
type Entry struct {
	Payload      []byte
	Source       []byte
	PayloadType  []byte // empty: the default "generic"
	EntryType    int
	LogLevel     int
	Timestamp    time.Time
	HasTimestamp bool
	// TimestampText is the timestamp as the client wrote it, when that is
	// already the normalised form (UTC, "Z", no trailing zeros): copied to
	// the output as it is instead of being formatted again.
	TimestampText []byte
	Metadata      []KV
	// Unescaped marks the strings that came with JSON escapes, so may hold
	// characters that must be escaped again on output; the others are
	// copied as they are (escUnescaped bits).
	Unescaped uint8
}

// Bits of Entry.Unescaped.
const (
	escPayload uint8 = 1 << iota
	escSource
	escPayloadType
	escMetadata
)

// Message is one decoded message; it is valid until the decoder's next Decode.
type Message struct {
	Kind    Kind
	Secret  []byte  // authenticate: the shared secret (nil when absent or not a string)
	Entries []Entry // the valid entries of an entry or batch message
	Total   int     // entries in the message, valid or not
}

// FieldError is one problem with one entry.
type FieldError struct {
	Index   int    // position in the batch, or -1 for a single entry
	Field   string // the field's name ("metadata.key" for a metadata value), or "" for the entry as a whole
	Message string
}

// Error is an error response of the contract.
type Error struct {
	Code    string
	Message string
	Errors  []FieldError
	// Refused is how many entries the error refuses, for the flush counts:
	// a batch's entries, one for a line that could not be read as a
	// message, none for a control message. Not sent to the client.
	Refused int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError returns an error response without entry details.
func NewError(code, message string) *Error { return &Error{Code: code, Message: message} }

// AppendJSON appends the error as one response line, newline included.
func (e *Error) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"status":"error","code":`...)
	dst = AppendString(dst, e.Code)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, e.Message)
	if len(e.Errors) > 0 {
		dst = append(dst, `,"errors":[`...)
		for i, fe := range e.Errors {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '{')
			if fe.Index >= 0 {
				dst = append(dst, `"index":`...)
				dst = strconv.AppendInt(dst, int64(fe.Index), 10)
				dst = append(dst, ',')
			}
			dst = append(dst, `"field":`...)
			dst = AppendString(dst, fe.Field)
			dst = append(dst, `,"message":`...)
			dst = AppendString(dst, fe.Message)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, "}\n"...)
}

// Fixed responses, newline included.
var (
	RespPong        = []byte(`{"status":"pong"}` + "\n")
	RespAuthSuccess = []byte(`{"status":"success","message":"Authentication successful"}` + "\n")
)

// AppendFlush appends the answer to a flush, newline included.
func AppendFlush(dst []byte, accepted, rejected int64) []byte {
	dst = append(dst, `{"status":"success","action":"flush","accepted":`...)
	dst = strconv.AppendInt(dst, accepted, 10)
	dst = append(dst, `,"rejected":`...)
	dst = strconv.AppendInt(dst, rejected, 10)
	return append(dst, "}\n"...)
}
