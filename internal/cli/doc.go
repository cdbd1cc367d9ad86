// Package cli implements the logflux-agent subcommands.
package cli
