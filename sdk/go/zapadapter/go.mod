module github.com/logflux/agent/sdk/go/zapadapter

go 1.25

require (
	github.com/logflux/agent/sdk/go v0.1.0
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.28.0
)

require go.uber.org/multierr v1.10.0 // indirect

replace github.com/logflux/agent/sdk/go => ../
