# Everything CI runs is `make check`; .ci/run calls it.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 20s

.PHONY: generate check test race lint smoke bench fuzz

generate:
	$(GO) generate ./...

# gofmt sees the working tree, committed or not: edit the spec, generate,
# and check before any commit.
lint:
	@unformatted=$$(gofmt -l .); test -z "$$unformatted" || { echo "gofmt needed: $$unformatted"; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck $(PKGS)

# test is the README's command. It includes the one staleness check of gen/
# (TestGeneratedCodeIsCurrent: regenerates into a temporary directory and
# compares byte for byte). race runs the same suite under the race detector.
test:
	$(GO) test $(PKGS)

race:
	$(GO) test -race -count=1 $(PKGS)

check: lint test race

smoke:
	$(GO) run ./cmd/smoke

# scripts/ holds the runners: bench (BENCHMARKS.md's figures) and fuzz
# (every fuzz target, FUZZTIME each).
bench:
	./scripts/bench

fuzz:
	./scripts/fuzz $(FUZZTIME)
