//go:build !race

package logflux

const raceEnabled = false
