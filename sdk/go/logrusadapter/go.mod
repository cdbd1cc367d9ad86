module github.com/logflux/agent/sdk/go/logrusadapter

go 1.25

require (
	github.com/logflux/agent/sdk/go v0.1.0
	github.com/sirupsen/logrus v1.10.2
	go.uber.org/goleak v1.3.0
)

require golang.org/x/sys v0.13.0 // indirect

replace github.com/logflux/agent/sdk/go => ../
