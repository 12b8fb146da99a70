# Everything CI runs is `make check`; .ci/run calls it.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 20s
UPSTREAM  ?= ../shared/upstream/atlas-admin-v2.yaml

.PHONY: generate check test race lint smoke bench fuzz drift drift-test

generate:
	$(GO) generate ./...

# gofmt sees the working tree, committed or not: edit the spec, generate,
# and check before any commit.
lint:
	@unformatted=$$(gofmt -l .); test -z "$$unformatted" || { echo "gofmt needed: $$unformatted"; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

# test is the README's command. It includes the one staleness check of gen/
# (TestGeneratedCodeIsCurrent: regenerates into a temporary directory and
# compares byte for byte). race runs the same suite under the race detector.
test:
	$(GO) test $(PKGS)

race:
	$(GO) test -race -count=1 $(PKGS)

check: lint test race drift-test

# drift compares the spec's operation with Atlas's published spec, UPSTREAM
# (never copied here), and fails on a difference no "# why:" explains. The
# tool is internal/drift, a module of its own so that `go test ./...` here
# never builds oasdiff; it is built into a temporary directory and run from
# here, so its lines name openapi/deleteorgapikey.yaml.
drift:
	@bin=$$(mktemp -d) && trap 'rm -rf "$$bin"' EXIT && \
	$(GO) -C internal/drift build -o "$$bin/drift" . && \
	"$$bin/drift" openapi/deleteorgapikey.yaml "$(UPSTREAM)"

# drift-test lints and tests the drift tool's module (lint's gofmt covers it
# already), with the staticcheck the root go.mod pins.
drift-test:
	@bin=$$(mktemp -d) && trap 'rm -rf "$$bin"' EXIT && \
	$(GO) build -o "$$bin/staticcheck" honnef.co/go/tools/cmd/staticcheck && \
	cd internal/drift && $(GO) vet ./... && "$$bin/staticcheck" ./... && $(GO) test ./...

smoke:
	$(GO) run ./cmd/smoke

# scripts/ holds the runners: bench (BENCHMARKS.md's figures) and fuzz
# (every fuzz target, FUZZTIME each).
bench:
	./scripts/bench

fuzz:
	./scripts/fuzz $(FUZZTIME)
