module github.com/logflux/agent/sdk/go/logrusadapter

go 1.26.8

require (
	github.com/logflux/agent/sdk/go v0.0.0-00010101000000-000000000000
	github.com/sirupsen/logrus v1.10.2
	go.uber.org/goleak v1.3.0
)

require golang.org/x/sys v0.13.0 // indirect

replace github.com/logflux/agent/sdk/go => ../
