package ingestsim

import (
	"crypto/rsa"
	"log/slog"
	"maps"
	"slices"
	"time"
)

// Default limits, as published for the Ingestion API.
const (
	DefaultMaxBatchSize      = 1000
	DefaultMaxPayloadSize    = 1 << 20
	DefaultMaxRequestSize    = 10 << 20
	DefaultRequestsPerMinute = 10000
	DefaultRetain            = 100000
	DefaultListen            = "127.0.0.1:8080"
	DefaultRegion            = "eu"
)

// maxDecompressed bounds what one part may inflate to, so that a gzip bomb
// costs the simulator nothing. The real service never decompresses: it
// cannot decrypt.
const maxDecompressed = 64 << 20

// Category is a quota category of the Ingestion API.
type Category string

// The quota categories and the entry types they hold.
const (
	CategoryEvents Category = "events" // entry types 1 Log, 2 Metric, 4 Event
	CategoryTraces Category = "traces" // entry types 3 Trace, 6 Telemetry, 7 TelemetryManaged
	CategoryAudit  Category = "audit"  // entry type 5 Audit
)

// CategoryOf returns the quota category of an entry type (1–7).
func CategoryOf(entryType int) Category {
	switch entryType {
	case 3, 6, 7:
		return CategoryTraces
	case 5:
		return CategoryAudit
	default:
		return CategoryEvents
	}
}

// Options configure a Server. The zero value serves on DefaultListen with a
// freshly generated key, the published limits and no faults.
type Options struct {
	// Listen is the address Start listens on (default DefaultListen).
	Listen string
	// Out is a file to which every accepted payload is appended as one line:
	// the decrypted, decompressed v2.0 payload JSON, compacted, and nothing
	// else (part headers are kept only in memory, see Record). Empty: no file.
	Out string
	// KeyFile is a PEM RSA private key (PKCS#1 or PKCS#8) whose public half
	// the handshake hands out. Empty: a 2048-bit key is generated at New.
	KeyFile string
	// PrivateKey, when set, is used instead of KeyFile (handy in tests).
	PrivateKey *rsa.PrivateKey

	// APIKeys lists the ingestion keys accepted. Empty: every well-formed
	// ingestion key ({region}-lf_<key>, or legacy lf_<key>) is accepted.
	// Read-side tokens (lf_usr_…) are always refused.
	APIKeys []string
	// RejectLegacyKeys refuses keys without a region prefix.
	RejectLegacyKeys bool
	// Region is the region the discovery document reports (default "eu").
	Region string
	// StrictRegion refuses keys whose region prefix is not Region.
	StrictRegion bool

	// WrapResponses answers the handshake wrapped as
	// {"status":"success","data":{…}} instead of at the top level; both
	// shapes are published.
	WrapResponses bool
	// LegacyKeyUUID makes handshake/complete name the session key_uuid, as
	// older servers do, instead of key_id.
	LegacyKeyUUID bool
	// AcceptMGF1SHA1 also unwraps session keys wrapped with MGF1-SHA-1 (the
	// Java SDK's default), after MGF1-SHA-256 failed. Off: only the published
	// SHA-256/MGF1-SHA-256 wrapping is accepted.
	AcceptMGF1SHA1 bool

	// Limits are enforced on /v1/ingest and advertised by the handshake.
	Limits Limits
	// Faults are injected from the start; see Server.SetFaults.
	Faults Faults
	// Seed seeds every random choice the simulator makes (faults, key ids,
	// request ids), so that a run can be reproduced.
	Seed uint64
	// Retain is how many accepted records Accepted keeps in memory, the
	// newest ones (default DefaultRetain; negative: none).
	Retain int
	// Logger receives one line per answered request at debug level and
	// problems at warn level (default: discard).
	Logger *slog.Logger
}

// Limits are the Ingestion API's request limits.
type Limits struct {
	MaxBatchSize      int `json:"max_batch_size"`   // parts per request (default 1000)
	MaxPayloadSize    int `json:"max_payload_size"` // bytes of one part body, the ciphertext (default 1 MiB)
	MaxRequestSize    int `json:"max_request_size"` // bytes of one request body (default 10 MiB)
	RequestsPerMinute int `json:"-"`                // per API key (default 10,000; negative: unlimited)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBatchSize <= 0 {
		l.MaxBatchSize = DefaultMaxBatchSize
	}
	if l.MaxPayloadSize <= 0 {
		l.MaxPayloadSize = DefaultMaxPayloadSize
	}
	if l.MaxRequestSize <= 0 {
		l.MaxRequestSize = DefaultMaxRequestSize
	}
	if l.RequestsPerMinute == 0 {
		l.RequestsPerMinute = DefaultRequestsPerMinute
	}
	return l
}

// Faults are failures the simulator injects. Rates are probabilities from 0
// to 1, drawn from the seeded generator. Status, latency and drop faults apply
// to every /v1/ request (handshake and ingest); the others to /v1/ingest only.
type Faults struct {
	// StatusRates answers a request with the given status instead of
	// serving it, e.g. {503: 0.3}. Rates are summed in ascending status
	// order; a total above 1 means 1.
	StatusRates map[int]float64
	// RetryAfter is sent as Retry-After (whole seconds, rounded up) with
	// injected 429 and 507 answers. Zero: no header.
	RetryAfter time.Duration
	// Latency is added before a request is served.
	Latency time.Duration
	// DropRate is the chance that a request's connection is closed without
	// an answer before anything is processed.
	DropRate float64
	// DropAfterAcceptRate is the chance that an ingest request's entries are
	// accepted and then its connection closed without an answer: the client
	// cannot know, and a resend makes duplicates.
	DropAfterAcceptRate float64
	// Quota lists categories whose quota is exhausted: an ingest request
	// holding an entry of one of them is answered 507.
	Quota []Category
	// PartFailureRate is the chance that an otherwise valid part is reported
	// failed in data.failures (a transient per-entry failure).
	PartFailureRate float64
	// SessionRequests expires a session after it has served this many ingest
	// requests, so that the next one gets 401 (zero: sessions never expire).
	SessionRequests int
	// BodyLimit, when positive, answers 413 to ingest bodies larger than
	// this although the handshake advertised more (like a proxy in front
	// with a lower limit).
	BodyLimit int
}

func (f Faults) clone() Faults {
	f.StatusRates = maps.Clone(f.StatusRates)
	f.Quota = slices.Clone(f.Quota)
	return f
}
