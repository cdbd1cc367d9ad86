# The README's test command is `make test`; .ci/run calls it.
GO ?= go
FUZZTIME ?= 8s

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
FUZZ_TARGETS = \
	./internal/protocol:FuzzDecode \
	./internal/config:FuzzDecode \
	./internal/config:FuzzByteSize \
	./internal/diskqueue:FuzzRecover \
	./internal/ingestsim:FuzzIngest \
	./internal/ingestsim:FuzzValidatePayload \
	./internal/forward:FuzzMappingLossless

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
