package admin

import (
	"net"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTapAccess(t *testing.T) {
	yes, no := true, false
	owner := func(uid int) func(*net.TCPAddr) (int, bool) {
		return func(*net.TCPAddr) (int, bool) { return uid, true }
	}
	for _, c := range []struct {
		name   string
		access TapAccess
		remote string
		refuse string // "" when allowed
	}{
		{"same user on loopback", TapAccess{UID: 1000, PeerUID: owner(1000)}, "127.0.0.1:5000", ""},
		{"another user on loopback", TapAccess{UID: 1000, PeerUID: owner(1001)}, "127.0.0.1:5000", "the client runs as uid 1001"},
		{"another machine", TapAccess{UID: 1000, PeerUID: owner(1000)}, "192.0.2.7:5000", "only a loopback client"},
		{"user unknown", TapAccess{UID: 1000, PeerUID: func(*net.TCPAddr) (int, bool) { return 0, false }}, "[::1]:5000", "could not be found"},
		{"admin.tap true", TapAccess{Setting: &yes, UID: 1000, PeerUID: owner(1001)}, "192.0.2.7:5000", ""},
		{"admin.tap false", TapAccess{Setting: &no, UID: 1000, PeerUID: owner(1000)}, "127.0.0.1:5000", "turned off"},
	} {
		r := httptest.NewRequest("GET", "/tap", nil)
		r.RemoteAddr = c.remote
		err := c.access.allow(r)
		if c.refuse == "" && err != nil || c.refuse != "" && (err == nil || !strings.Contains(err.Error(), c.refuse)) {
			t.Errorf("%s: %v, want refusal %q", c.name, err, c.refuse)
		}
	}
}
