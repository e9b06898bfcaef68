# mdc — durable automation for multi-site micro data centres.
# `make help` lists the targets.

SHELL := /bin/bash
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false
BIN := bin/mdc
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/microdc/mdc/internal/cli.Version=$(VERSION)
# Integration tests start real HAProxy, PowerDNS, MariaDB and vcsim; a
# package's tests can take a minute on a small machine.
TEST_TIMEOUT ?= 20m
STATE_DIR ?=

.PHONY: help deps build dev test test-short bench lint fuzz clean

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

bench: deps ## benchmarks (medians and side-by-side ratios)
	go test -run '^$$' -bench . -benchtime 5x -count 1 ./...

lint: ## go vet, plus staticcheck when it can be installed
	go vet ./...
	@if command -v staticcheck >/dev/null 2>&1 || go install honnef.co/go/tools/cmd/staticcheck@v0.7.0 2>/dev/null; then \
		PATH="$$PATH:$$(go env GOPATH)/bin" staticcheck ./...; \
	else echo "staticcheck could not be installed here; go vet ran"; fi

clean: ## remove build output
	rm -rf bin
