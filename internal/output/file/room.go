package file

import "time"

// The file output's reservation must never be what fills the disk: when the
// queue shares the filesystem, the queue would then refuse entries while
// the output sat on megabytes it does not need yet. So a reservation takes
// at most reserveShare of the space still free, and a reservation that has
// become large beside the space left is given back.
const (
	reserveShare   = 8           // reserve at most 1/reserveShare of the free space
	roomCheckEvery = time.Second // how often a held reservation is weighed against the free space
)

// freeSpace returns the bytes an unprivileged writer may still use on f's
// filesystem; ok is false where that cannot be known. A variable so that
// tests can play a nearly full disk.
var freeSpace = statFree

// reserveCap returns the most disk the output may reserve now.
func (o *Output) reserveCap() int64 {
	free, ok := freeSpace(o.f)
	if !ok {
		return reserveStep
	}
	return free / reserveShare
}

// giveBackIfShort gives the reservation back, after a Flush, when the free
// space has shrunk to less than reserveShare times what is held unused.
func (o *Output) giveBackIfShort() {
	if o.reserved <= o.size || time.Since(o.roomChecked) < roomCheckEvery {
		return
	}
	o.roomChecked = time.Now()
	if free, ok := freeSpace(o.f); ok && free < reserveShare*(o.reserved-o.size) {
		if err := o.release(); err != nil {
			o.noReserve = true
		}
	}
}
