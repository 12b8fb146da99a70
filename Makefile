# Everything CI runs is `make check`; .ci/run calls the README's test command.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 20s

.PHONY: generate check test race lint gencheck smoke bench fuzz

generate:
	$(GO) generate ./...

# gencheck: regenerating on a clean tree must leave no diff.
gencheck: generate
	@git diff --exit-code --stat -- gen/ || { echo "gen/ is stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- gen/)" || { git status --porcelain -- gen/; echo "gen/ has untracked files"; exit 1; }

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$unformatted" || { echo "gofmt needed: $$unformatted"; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck $(PKGS)

# test is the README's command; race runs the same suite under the race detector.
test:
	$(GO) test $(PKGS)

race:
	$(GO) test -race -count=1 $(PKGS)

check: lint gencheck test race

smoke:
	$(GO) run ./cmd/smoke

bench:
	./scripts/bench

fuzz:
	./scripts/fuzz $(FUZZTIME)
