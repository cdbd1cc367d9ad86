# The README's test command is `make test`; .ci/run calls it.
GO ?= go
FUZZTIME ?= 10s

.PHONY: test test-go test-sdk-go fuzz build bench

build:
	$(GO) build -o bin/logflux-agent ./cmd/logflux-agent

test: test-go test-sdk-go fuzz

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

# Each SDK module under sdk/go is its own Go module.
test-sdk-go:
	@for m in $$(find sdk/go -name go.mod -not -path '*/node_modules/*' | xargs -n1 dirname | sort); do \
		echo "== $$m"; \
		(cd $$m && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...) || exit 1; \
	done

# Every parser's fuzz target, for a short fixed time each.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/protocol

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
