package record

import "fmt"

// stampWindow is how much of a record's start ReadStamp copies: the
// layout's id, receivedAt, input, version and timestamp fit in it unless
// the input's name is very long (then the record is parsed whole).
const stampWindow = 256

// ReadStamp reads a record's id and timestamp, which the layout puts
// before everything else but receivedAt, input and version: from a copy of
// the record's first bytes rather than the whole record, for outputs that
// pass the record on whole but key and date it (Elasticsearch's _id and
// index). A record of another shape is parsed whole.
func ReadStamp(rec []byte) (id, timestamp string, err error) {
	r := layoutReader{s: string(rec[:min(len(rec), stampWindow)])}
	var skip string
	if r.lit(`{"id":"`) && r.str(&id) &&
		r.lit(`,"receivedAt":"`) && r.str(&skip) &&
		(!r.lit(`,"input":"`) || r.str(&skip)) &&
		r.lit(`,"version":"`) && r.str(&skip) &&
		r.lit(`,"timestamp":"`) && r.str(&timestamp) && id != "" {
		return id, timestamp, nil
	}
	e, err := Parse(rec)
	if err != nil {
		return "", "", err
	}
	if e.ID == "" {
		return "", "", fmt.Errorf("record has no id")
	}
	return e.ID, e.Timestamp, nil
}
