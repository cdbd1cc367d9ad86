package intake

import "net"

// LoopbackOwner returns the user id owning the client end, addr, of a
// loopback TCP connection to this machine, as /proc/net/tcp shows it (false
// where there is no such table, or no such socket).
func LoopbackOwner(addr *net.TCPAddr) (uid int, ok bool) { return loopbackOwner(addr) }
