package syslog

import "syscall"

// soRcvbufForce sets a receive buffer over net.core.rmem_max (CAP_NET_ADMIN).
const soRcvbufForce = syscall.SO_RCVBUFFORCE
