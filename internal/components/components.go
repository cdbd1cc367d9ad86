// Package components is the one list of the input and output types built into the agent; the agent and validate consult only it.
package components

import (
	"github.com/logflux/agent/internal/config"
	"github.com/logflux/agent/internal/input"
	"github.com/logflux/agent/internal/input/agentapi"
	fileinput "github.com/logflux/agent/internal/input/file"
	"github.com/logflux/agent/internal/input/journald"
	inotlp "github.com/logflux/agent/internal/input/otlp"
	"github.com/logflux/agent/internal/input/syslog"
	"github.com/logflux/agent/internal/output"
	"github.com/logflux/agent/internal/output/elasticsearch"
	"github.com/logflux/agent/internal/output/file"
	"github.com/logflux/agent/internal/output/httpout"
	"github.com/logflux/agent/internal/output/kafka"
	"github.com/logflux/agent/internal/output/logflux"
	"github.com/logflux/agent/internal/output/loki"
	natsout "github.com/logflux/agent/internal/output/nats"
	"github.com/logflux/agent/internal/output/otlp"
	"github.com/logflux/agent/internal/output/stdout"
)

// Inputs are the input types, in the order messages list them.
func Inputs() []input.Factory {
	return []input.Factory{
		agentapi.Factory{},
		fileinput.Factory{},
		syslog.Factory{},
		journald.Factory{},
		inotlp.Factory{},
	}
}

// Outputs are the output types, in the order messages list them.
func Outputs() []output.Factory {
	return []output.Factory{
		file.Factory{},
		stdout.Factory{},
		logflux.Factory{},
		otlp.Factory{},
		httpout.Factory{},
		elasticsearch.Factory{},
		loki.Factory{},
		kafka.Factory{},
		natsout.Factory{},
	}
}

// Registry is both lists, for config.Load.
func Registry() config.Registry {
	return config.Registry{Inputs: Inputs(), Outputs: Outputs()}
}
