# Suilong. `make help` lists the targets; deploy/README.md explains the service scripts behind them.

SHELL := /bin/bash
GO ?= go
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
WITH := deploy/local/with.sh

# What `make test` and `make bench` cover, e.g. PKGS=./ingest/...; extra `go test` flags, e.g. GOTEST_FLAGS=-v.
# BENCH_ARGS go to the matching bench (matching/solve/bench/main.go: -runs, -only, -dir).
PKGS ?= ./...
GOTEST_FLAGS ?=
# Short fuzz runs after the suite passes: space-separated PACKAGE:FuzzFunc (the two decoders of outside input);
# FUZZ_TARGETS= skips them.
FUZZ_TARGETS ?= ./ingest/:FuzzDecode ./matching/solve/:FuzzDecodeInstance
FUZZTIME ?= 10s
# Go minimises every new interesting input for up to 60 s by default, and counts none of it as fuzzing: on these
# inputs that took the whole FUZZTIME (650 inputs tried in 10 s instead of about 70,000). A failure is still
# minimised, within this many runs.
FUZZMINIMIZE ?= 100x
STATICCHECK_VERSION ?= v0.8.2
GOVULNCHECK_VERSION ?= v1.9.0

.DEFAULT_GOAL := help
.PHONY: help build run test lint bench bench-api bench-ingest bench-matching up down clean image deploy-check

help: ## list the targets
	@echo 'Suilong make targets:'
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-15s %s\n", $$1, $$2 }'

build: ## build bin/suilong, version from git describe
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/suilong ./cmd/suilong

run: build ## start the services, migrate, load demo data, serve with the simulator; Ctrl-C stops it all
	@$(WITH) -- sh -c './bin/suilong migrate && ./bin/suilong demo && exec ./bin/suilong serve --sim'

test: ## the whole suite against real services (what .ci/run runs), then stop what it started
	@$(WITH) --test --check-leaks --quiet -- bash -c '\
		$(GO) test -count=1 -timeout 20m $(GOTEST_FLAGS) $(PKGS) || exit; \
		for t in $(FUZZ_TARGETS); do \
			$(GO) test -run="^$$" -fuzz="^$${t##*:}\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE) "$${t%%:*}" || exit; \
		done'

lint: ## gofmt, go vet, staticcheck, govulncheck (the last two are skipped when they cannot be fetched)
	@files=$$(find . -name '*.go' -not -path './var/*' -not -path './bin/*' -not -path './.git/*'); \
	bad=$$(gofmt -l $$files); \
	if [ -n "$$bad" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -version >/dev/null 2>&1; then \
		echo "staticcheck ./..."; $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...; \
	else echo "lint: staticcheck $(STATICCHECK_VERSION) could not be fetched from the module proxy; skipped"; fi
	@out=$$(timeout 600 $(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) ./... 2>&1); rc=$$?; \
	if [ $$rc = 0 ]; then echo "$$out"; \
	elif grep -qiE 'fetching vulnerabilities|dial tcp|no such host|connection refused|i/o timeout' <<<"$$out" && \
		! grep -q 'Vulnerability #' <<<"$$out"; then \
		echo "lint: govulncheck skipped, it could not reach its vulnerability database:"; \
		grep -m1 -iE 'fetching vulnerabilities|dial tcp|no such host|connection refused|i/o timeout' <<<"$$out"; \
	else echo "$$out"; exit 1; fi

bench: ## every Go benchmark, services up
	@$(WITH) --quiet -- $(GO) test -run='^$$' -bench=. -benchmem $(GOTEST_FLAGS) $(PKGS)

bench-api: build ## the API under load (wrk, pgbench): POST /demands vs pgbench INSERT, list pages of a 100k-demand buyer, the public page
	@$(WITH) --quiet -- deploy/local/bench-api.sh

bench-ingest: ## ingest benchmarks, services up
	@$(WITH) --quiet -- $(GO) test -run='^$$' -bench=. -benchmem ./ingest/...

bench-matching: ## suilong match against LEMON's network simplex, whole processes (BENCH_ARGS='-runs 5 -only 50k')
	@GO=$(GO) matching/solve/bench/bench.sh $(BENCH_ARGS)

image: ## build the container image localhost/suilong:latest with podman, nothing pulled (IMAGE=name:tag to rename)
	@VERSION=$(VERSION) deploy/image/build.sh $(IMAGE)

deploy-check: ## only the tests of deploy/: image, compose, Helm chart, alert rules, dashboards, backups
	@$(WITH) --test --check-leaks --quiet -- $(GO) test -count=1 -timeout 20m $(GOTEST_FLAGS) ./deploy/...

up: ## start the services only and write var/suilong.env (stop them with make down)
	@deploy/local/up.sh

down: ## stop the services the local scripts started
	@deploy/local/down.sh

clean: down ## stop the services, then remove var/ (all local data) and bin/
	@chmod -R u+w var/image 2>/dev/null || true # the image builder's module cache is read-only
	rm -rf var bin
