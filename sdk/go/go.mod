module github.com/logflux/agent/sdk/go

go 1.26.8
