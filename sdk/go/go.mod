module github.com/logflux/agent/sdk/go

go 1.25
