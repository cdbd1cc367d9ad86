package intake

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
)

// authPeer names a TCP client for the accounting of failed authentications.
// A client on loopback is named by the user that owns its socket, found in
// /proc/net/tcp (or tcp6): every local client comes from the same address,
// and one of them sending a wrong secret must not lock the others out.
// Anything else, or a lookup that fails, is named by its address.
func authPeer(nc net.Conn) string {
	if ra, ok := nc.RemoteAddr().(*net.TCPAddr); ok && ra.IP.IsLoopback() {
		if uid, ok := loopbackOwner(ra); ok {
			return "tcp-uid:" + strconv.Itoa(uid)
		}
	}
	return peerID(nc, TCP)
}

// loopbackOwner returns the user id owning the local socket whose address is
// addr (the client end of a loopback connection).
func loopbackOwner(addr *net.TCPAddr) (int, bool) {
	for _, table := range []struct {
		path string
		v6   bool
	}{{"/proc/net/tcp", false}, {"/proc/net/tcp6", true}} {
		key, ok := procNetAddr(addr, table.v6)
		if !ok {
			continue
		}
		content, err := os.ReadFile(table.path)
		if err != nil {
			continue
		}
		if uid, ok := ownerIn(content, key); ok {
			return uid, true
		}
	}
	return 0, false
}

// procNetAddr writes addr as /proc/net/tcp (v6 false) or tcp6 shows local
// addresses: the address in 32-bit words of host byte order, in hex, then
// ':' and the port in hex.
func procNetAddr(addr *net.TCPAddr, v6 bool) (string, bool) {
	var ip []byte
	if v6 {
		ip = addr.IP.To16()
	} else {
		ip = addr.IP.To4()
	}
	if ip == nil {
		return "", false
	}
	var b bytes.Buffer
	for i := 0; i < len(ip); i += 4 {
		// The kernel prints each 32-bit word as a number in host order.
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(ip[i:i+4]))
	}
	fmt.Fprintf(&b, ":%04X", addr.Port)
	return b.String(), true
}

// ownerIn finds the socket whose local address is key in the contents of a
// /proc/net/tcp file and returns its uid (the 8th field).
func ownerIn(content []byte, key string) (int, bool) {
	for _, line := range bytes.Split(content, []byte("\n"))[1:] {
		f := bytes.Fields(line)
		if len(f) < 8 || string(f[1]) != key {
			continue
		}
		uid, err := strconv.Atoi(string(f[7]))
		return uid, err == nil
	}
	return 0, false
}
