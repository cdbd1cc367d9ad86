package syslog

import (
	"sort"
	"time"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/logflux/agent/internal/input/entrybuild"
)

// PayloadType is what every syslog entry carries.
const PayloadType = "syslog"

// parser turns one syslog message (already framed) into entry fields. It
// is for one goroutine at a time.
type parser struct {
	cfg *Config
	m   gosyslog.Machine
	now func() time.Time
	f   entrybuild.Fields

	// The fast path's memory (fast.go).
	facilities [24]string
	sd         []sdItem
	keys       []byte
}

func newParser(cfg *Config) *parser { return newParserAt(cfg, time.Now) }

// clockYear is the year by the parser's clock, for RFC 3164 timestamps.
type clockYear struct{ now func() time.Time }

func (y clockYear) Apply() int { return y.now().Year() }

func newParserAt(cfg *Config, now func() time.Time) *parser {
	loc := cfg.loc
	if loc == nil {
		loc = time.Local
	}
	m := auto.NewMachine(
		auto.WithRFC3164Options(
			rfc3164.WithYear(clockYear{now}),
			rfc3164.WithLocaleTimezone(loc),
			rfc3164.WithRFC3339(),
			rfc3164.WithSecondFractions(),
			rfc3164.WithLenientDay(),
			rfc3164.WithEmbeddedNewlines(),
		),
		auto.WithRFC5424Options(rfc5424.WithBestEffort()),
	)
	return &parser{cfg: cfg, m: m, now: now, facilities: fastFacility()}
}

// parse fills p.f from raw. A message that cannot be parsed is kept as it
// is, with metadata syslog.parse_error saying why; parsed reports which.
// The fields may point into raw: they are valid until raw is overwritten
// or the next parse.
func (p *parser) parse(raw []byte, peer string) (f *entrybuild.Fields, parsed bool) {
	for len(raw) > 0 && (raw[len(raw)-1] == '\n' || raw[len(raw)-1] == '\r' || raw[len(raw)-1] == 0) {
		raw = raw[:len(raw)-1]
	}
	if p.fast5424(raw, peer) {
		return &p.f, true
	}
	return p.parseLib(raw, peer)
}

// parseLib is parse by go-syslog, for every message the fast path refuses.
func (p *parser) parseLib(raw []byte, peer string) (f *entrybuild.Fields, parsed bool) {
	f = &p.f
	*f = entrybuild.Fields{PayloadType: PayloadType, LogLevel: 7, Metadata: f.Metadata[:0]}
	msg, err := p.m.Parse(raw)
	var base *gosyslog.Base
	var sd *map[string]map[string]string
	format := ""
	switch m := msg.(type) {
	case *rfc5424.SyslogMessage:
		base, sd, format = &m.Base, m.StructuredData, "rfc5424"
	case *rfc3164.SyslogMessage:
		base, format = &m.Base, "rfc3164"
	}
	parsed = err == nil && base != nil
	if base != nil {
		if base.Severity != nil {
			f.LogLevel = int(*base.Severity) + 1
		}
		if kw := base.FacilityLevel(); kw != nil {
			p.meta("syslog.facility", *kw)
		}
		if base.Timestamp != nil {
			t := *base.Timestamp
			// RFC 3164 has no year: a December message read in January
			// would be eleven months ahead.
			if format == "rfc3164" && t.After(p.now().Add(48*time.Hour)) {
				t = t.AddDate(-1, 0, 0)
			}
			f.Time = t
		}
		str(p, "syslog.hostname", base.Hostname)
		str(p, "syslog.appname", base.Appname)
		str(p, "syslog.procid", base.ProcID)
		str(p, "syslog.msgid", base.MsgID)
		p.meta("syslog.format", format)
		if sd != nil {
			ids := make([]string, 0, len(*sd))
			for id := range *sd {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				params := (*sd)[id]
				if len(params) == 0 {
					p.meta("syslog.sd."+id, "")
					continue
				}
				names := make([]string, 0, len(params))
				for n := range params {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					p.meta("syslog.sd."+id+"."+n, params[n])
				}
			}
		}
	}
	switch {
	case p.cfg.Source != "":
		f.Source = p.cfg.Source
	case base != nil && base.Appname != nil:
		f.Source = *base.Appname
	case base != nil && base.Hostname != nil:
		f.Source = *base.Hostname
	default:
		f.Source = "syslog"
	}
	if parsed && base.Message != nil && *base.Message != "" {
		f.Payload = *base.Message
	} else {
		f.Payload = string(raw) // nothing else to show, or what failed to parse
	}
	if err != nil {
		p.meta("syslog.parse_error", err.Error())
	}
	if peer != "" {
		p.meta("syslog.peer", peer)
	}
	return f, parsed
}

func (p *parser) meta(k, v string) {
	p.f.Metadata = append(p.f.Metadata, entrybuild.KV{Key: k, Value: v})
}

func str(p *parser, k string, v *string) {
	if v != nil && *v != "" {
		p.meta(k, *v)
	}
}
