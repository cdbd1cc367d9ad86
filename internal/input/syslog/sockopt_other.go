//go:build !linux

package syslog

import "syscall"

// soRcvbufForce is SO_RCVBUF where there is no forcing variant.
const soRcvbufForce = syscall.SO_RCVBUF
