module github.com/logflux/agent/sdk/go/zapadapter

go 1.26.8

require (
	github.com/logflux/agent/sdk/go v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.28.0
)

require go.uber.org/multierr v1.10.0 // indirect

replace github.com/logflux/agent/sdk/go => ../
