# mdc — durable automation for multi-site micro data centres.
# `make help` lists the targets.

SHELL := /bin/bash
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false
BIN := bin/mdc
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/microdc/mdc/internal/cli.Version=$(VERSION)
# Integration tests start real HAProxy, PowerDNS, MariaDB and vcsim; a
# package's tests can take a minute on a small machine.
TEST_TIMEOUT ?= 20m
STATE_DIR ?=

.PHONY: help deps build dev test test-short bench bench-go lint fuzz histories clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

deps: ## install missing Debian packages (as root) and Go modules
	@./scripts/ensure-deps
	@go mod download

build: ## build bin/mdc
	go build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mdc

dev: deps build ## run Temporal + Web UI, NATS, the two-site lab and a worker in one process
	$(BIN) dev $(if $(STATE_DIR),--state-dir $(STATE_DIR))

test: deps ## unit and integration tests against the real components
	go test -timeout $(TEST_TIMEOUT) ./...

test-short: ## unit tests only (no real components)
	go test -short ./...

# make bench: the scenario benchmark (cmd/mdc-bench, package bench) prints one
# table and writes bench/results.json. BENCH_RUNS runs per figure (median, min,
# max); BENCH_SCENARIOS picks some (mdc-bench -list); BENCH_LABEL names the machine.
BENCH_RUNS ?= 3

bench: deps build ## scenario benchmark: one table, figures in bench/results.json (~12 min on 2 cores)
	go run ./cmd/mdc-bench -runs $(BENCH_RUNS) -mdc $(BIN) -out bench/results.json \
		$(if $(BENCH_SCENARIOS),-scenarios $(BENCH_SCENARIOS)) $(if $(BENCH_LABEL),-label "$(BENCH_LABEL)")

bench-go: ## the Go testing.B benchmarks of every package
	go test -run '^$$' -bench . -benchtime 5x -count 1 ./...

GOBIN := $(shell go env GOPATH)/bin

lint: ## go vet, staticcheck, and workflowcheck (determinism of workflow code)
	go vet ./...
	@test -x $(GOBIN)/staticcheck || go install honnef.co/go/tools/cmd/staticcheck@v0.7.0
	$(GOBIN)/staticcheck ./...
	@test -x $(GOBIN)/workflowcheck || go install go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0
	$(GOBIN)/workflowcheck ./workflows/...

# Each fuzz target runs for FUZZTIME from its seed corpus (CI runs them).
FUZZTIME ?= 15s

fuzz: ## run each fuzz target (event decoder, platform-file parser) for FUZZTIME (default 15s)
	go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./events/
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./platform/

histories: deps ## re-record the workflow histories the replay tests use (runs the lab)
	MDC_RECORD_HISTORIES=$(CURDIR)/workflows/testdata/histories go test -count=1 -timeout $(TEST_TIMEOUT) ./tests/

clean: ## remove build output
	rm -rf bin
