package admin

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/logflux/agent/internal/tap"
)

// Tapper is what GET /tap needs; an Agent that also implements it serves it.
type Tapper interface {
	TapHub() *tap.Hub
	TapAccess() TapAccess
	// OutputMatch returns what the named output receives of the entries, or
	// an error naming the outputs when there is no such output.
	OutputMatch(name string) (func(record []byte) bool, error)
}

// TapAccess decides who may tap: tapped payloads can hold secrets.
type TapAccess struct {
	// Setting is admin.tap: nil, only a loopback client whose socket belongs
	// to UID; true, any client of the admin server; false, nobody.
	Setting *bool
	UID     int
	// PeerUID returns the user owning the client end of a loopback TCP
	// connection (intake.LoopbackOwner).
	PeerUID func(remote *net.TCPAddr) (int, bool)
}

// TapBufferBytes is how many bytes of entries one tap may have waiting
// before it loses (and counts) what does not fit.
const TapBufferBytes = 1 << 20

// allow returns nil when the request may tap, or why not.
func (a TapAccess) allow(r *http.Request) error {
	if a.Setting != nil {
		if *a.Setting {
			return nil
		}
		return errors.New("tapping is turned off (admin.tap: false)")
	}
	ap, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	if err != nil || !ap.IP.IsLoopback() {
		return fmt.Errorf("only a loopback client running as the agent's user may tap unless admin.tap is true (the client is %s)", r.RemoteAddr)
	}
	if a.PeerUID == nil {
		return errors.New("the client's user cannot be checked here; set admin.tap: true to allow tapping")
	}
	uid, ok := a.PeerUID(ap)
	if !ok {
		return errors.New("the client's user could not be found; set admin.tap: true to allow tapping")
	}
	if uid != a.UID {
		return fmt.Errorf("only the agent's user (uid %d) may tap unless admin.tap is true; the client runs as uid %d", a.UID, uid)
	}
	return nil
}

// tapNotice is an in-band line of a tap stream; records never have a "tap" key.
type tapNotice struct {
	Tap struct {
		Dropped int64  `json:"dropped"`       // entries this tap lost so far, before filtering
		Shown   int    `json:"shown"`         // entries sent so far
		End     string `json:"end,omitempty"` // why the stream ends
	} `json:"tap"`
}

func serveTap(t Tapper, w http.ResponseWriter, r *http.Request) {
	if err := t.TapAccess().allow(r); err != nil {
		httpError(w, http.StatusForbidden, err)
		return
	}
	q := r.URL.Query()
	f, err := tap.ParseQuery(q)
	if name := q.Get("output"); name != "" {
		m, merr := t.OutputMatch(name)
		err = errors.Join(err, merr)
		f.Match = m
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	sub := t.TapHub().Subscribe(TapBufferBytes)
	defer sub.Close()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	sel := tap.Selector{F: f}
	var sentDropped int64 = -1
	notice := func(end string) error {
		var n tapNotice
		n.Tap.Dropped, n.Tap.Shown, n.Tap.End = sub.Dropped(), sel.Shown(), end
		sentDropped = n.Tap.Dropped
		b, _ := json.Marshal(n)
		bw.Write(append(b, '\n'))
		return flush(rc, bw)
	}
	if notice("") != nil { // the client knows it is attached
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if sub.Dropped() != sentDropped && notice("") != nil {
				return
			}
			continue
		case <-sub.Ready():
		}
		for _, b := range sub.Take() {
			for i := range b.Len() {
				rec := b.Record(i)
				if !sel.Take(b.Input, rec) {
					continue
				}
				bw.Write(rec)
				bw.WriteByte('\n')
				if sel.Done() {
					notice("limit")
					return
				}
			}
		}
		if flush(rc, bw) != nil {
			return
		}
	}
}

// tapStuckAfter ends a stream whose client has read nothing for this long.
// Until then its tap only loses entries, which costs the pipeline nothing.
const tapStuckAfter = time.Minute

// flush sends what bw holds, giving a client that does not read tapStuckAfter.
func flush(rc *http.ResponseController, bw *bufio.Writer) error {
	rc.SetWriteDeadline(time.Now().Add(tapStuckAfter))
	if err := bw.Flush(); err != nil {
		return err
	}
	return rc.Flush()
}

func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"status": "error", "error": err.Error()})
}
