package file

import "testing"

// TestLineIDsStayTheSame pins the ids lines get: a line read again after an
// upgrade must get the id it got before, or consumers that drop repeated
// ids would keep it twice.
func TestLineIDsStayTheSame(t *testing.T) {
	for _, c := range []struct {
		seed [16]byte
		at   int64
		part int
		want string
	}{
		{[16]byte{}, 0, 0, "00000000-0000-8000-8000-000000000000"},
		{[16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 123456789, 0, "9d45750b-a85c-85f7-9174-4d1c0458ec0f"},
		{[16]byte{0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0}, 1 << 40, 3, "5cfe34df-d23b-8dcd-9d6b-54fe01dad859"},
	} {
		var out [36]byte
		lineID(&out, &c.seed, c.at, c.part)
		if string(out[:]) != c.want {
			t.Errorf("lineID(%x, %d, %d) = %s, want %s", c.seed, c.at, c.part, out, c.want)
		}
	}
}
