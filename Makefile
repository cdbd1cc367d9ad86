# The README's test command is `make test`; .ci/run calls it.
GO ?= go

.PHONY: test test-go test-sdk-go fuzz build bench

# The SDKs in other languages, each tested by its own sdk/<lang>/ci-test.sh
# (which installs what it needs) against the agent binary built here:
# sdk/python (pip into a virtualenv, mypy, pytest), sdk/java (Maven, JUnit)
# and sdk/js (npm ci, node --test).
SDKS = python java js

build:
	$(GO) build -o bin/logflux-agent ./cmd/logflux-agent
	$(GO) build -o bin/logflux-bench ./cmd/logflux-bench
	$(GO) build -o bin/logflux-ingest-sim ./cmd/logflux-ingest-sim

test: test-go test-sdk-go $(SDKS:%=test-sdk-%) fuzz

# Vetted for arm64 (no assembly: the portable hot path) and macOS too, so
# that they keep building.
test-go:
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

# Each SDK module under sdk/go is its own Go module; build-outside.sh then
# builds the adapters from a module outside the repository, as users get them.
test-sdk-go:
	@for m in $$(find sdk/go -name go.mod -not -path '*/node_modules/*' | xargs -n1 dirname | sort); do \
		echo "== $$m"; \
		(cd $$m && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...) || exit 1; \
	done
	@echo "== sdk/go adapters from outside the repository"
	@bash sdk/go/build-outside.sh

# make test-sdk-js, test-sdk-python, test-sdk-java: one SDK against bin/logflux-agent.
test-sdk-%: build
	LOGFLUX_AGENT_BIN=$(CURDIR)/bin/logflux-agent bash sdk/$*/ci-test.sh

# Every parser's fuzz target, for a fixed number of executions each (about
# 5-8 s on a 2-core machine). A count, not a duration: with a duration, Go
# 1.26's fuzzer can fail a run that found nothing with "context deadline
# exceeded" when a busy machine delays a worker at the deadline
# (go.dev/issue/75804, fixed in Go 1.27). FUZZTIME=60s (or 1000000x) gives
# every target the same longer budget.
FUZZ_TARGETS = \
	./internal/protocol:FuzzDecode:100000x \
	./internal/protocol:FuzzFastPathAgrees:100000x \
	./internal/config:FuzzDecode:25000x \
	./internal/config:FuzzByteSize:80000x \
	./internal/diskqueue:FuzzRecover:40000x \
	./internal/ingestsim:FuzzIngest:5000x \
	./internal/ingestsim:FuzzValidatePayload:40000x \
	./internal/output/logflux:FuzzMappingLossless:30000x \
	./internal/redact:FuzzRedact:20000x \
	./internal/record:FuzzParseAgrees:50000x \
	./internal/input/syslog:FuzzFastPath:10000x

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${FUZZTIME:-$${rest#*:}}; \
		echo "== fuzz $$name in $$pkg for $$budget"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $$budget $$pkg || exit 1; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
