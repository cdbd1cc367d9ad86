//go:build race

package logflux

const raceEnabled = true
