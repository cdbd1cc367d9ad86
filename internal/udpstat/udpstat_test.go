package udpstat

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

const sample = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:15A2 00000000:0000 07 00000000:00000A00 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  124: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 0
`

func TestLookupReadsPortInodeQueueAndDrops(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "net", "udp"), []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	old := procRoot
	procRoot = dir
	defer func() { procRoot = old }()
	s, err := Lookup(func(s Socket) bool { return s.Port == 5538 })
	if err != nil || s != (Socket{Port: 5538, Inode: 4242, RxQueue: 2560, Drops: 17}) {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := Lookup(func(s Socket) bool { return s.Inode == 1 }); err != ErrNotFound {
		t.Fatalf("no match: %v", err)
	}
}

// The real file: a socket this test opens is there, by its port.
func TestLookupFindsAnOpenSocket(t *testing.T) {
	if _, err := os.Stat("/proc/net/udp"); err != nil {
		t.Skip("no /proc/net/udp: not Linux")
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	s, err := Lookup(func(s Socket) bool { return s.Port == port })
	if err != nil || s.Inode == 0 || s.Drops != 0 {
		t.Fatalf("%+v %v", s, err)
	}
}
