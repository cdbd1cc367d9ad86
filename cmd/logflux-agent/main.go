// Command logflux-agent is the LogFlux Agent: it takes log entries from local clients over a Unix socket or TCP, validates and queues them, and forwards them to its outputs.
package main

import (
	"os"

	"github.com/logflux/agent/internal/cli"
)

func main() {
	os.Exit(cli.Main(cli.OS(), os.Args[1:]))
}
