# resetq — run `make help` for the targets.

GO          ?= go
# Build and test with go.mod's toolchain (fetched through the module proxy
# on first use): the machine's own Go may lack security fixes.
export GOTOOLCHAIN ?= $(shell sed -n 's/^toolchain //p' go.mod)
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK ?= golang.org/x/vuln/cmd/govulncheck@v1.8.0
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS      = -X github.com/resetq/resetq/internal/version.Version=$(VERSION) \
               -X github.com/resetq/resetq/internal/version.Revision=$(REVISION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# TESTJSON=FILE keeps every event of `make test` (go test -json), to
# compare runs.
TESTJSON ?=
.PHONY: test
test: need-tools ## Run every test with the race detector (starts its own redis-server and prometheus processes); prints the ten slowest
	$(GO) run ./internal/testreport -slowest 10 $(if $(TESTJSON),-json $(TESTJSON)) -- $(GO) test -race -count=1 -json ./...

.PHONY: e2e
e2e: need-tools ## Against the real Keycloak, Kratos, Mailpit and Google's Firebase Auth emulator (fetched from Maven Central and npm, or built, on first use into .cache)
	$(GO) run ./internal/realidp/devstack -exec -- $(MAKE) --no-print-directory e2e-suites

# The suites of `make e2e`, sharing the Keycloak devstack started: the
# provider, the emulator checked against the server, and real workers.
.PHONY: e2e-suites
e2e-suites:
	$(GO) test -race -count=1 -tags e2e -timeout 30m ./internal/realidp/ ./idp/keycloak/... ./idp/kratos/... ./idp/firebase/...
	$(GO) test -race -count=1 -tags e2e -timeout 30m -run '^TestKeycloak' ./cmd/resetq/

.PHONY: browser
browser: need-tools ## The console in Debian's Chromium, driven by Playwright (playwright-core from npm, cached in .cache): a campaign run and a halted provider recovered from the console alone; screenshots in test-artifacts/console
	$(GO) test -race -count=1 -tags browser -run '^TestTheConsoleInABrowser$$' -timeout 10m ./cmd/resetq/

.PHONY: keycloak
keycloak: ## Run a real Keycloak, Mailpit and Redis here, and write resetq.keycloak.yaml for them
	$(GO) run ./internal/realidp/devstack

.PHONY: chaos
chaos: need-tools ## Kill workers, restart Redis, fail its master over, take the IdP and a webhook receiver down, mid-campaign
	@out=$$(mktemp); $(GO) test -race -count=1 -tags chaos -run '^TestChaos' -v -timeout 20m ./cmd/resetq/ > $$out 2>&1; s=$$?; \
		grep -E '^(CHAOS|--- |FAIL|ok|PASS)|^\s+\w+_test\.go:[0-9]+:|^\s+(Error|Messages):' $$out; rm -f $$out; exit $$s

.PHONY: bench
bench: need-tools ## Print the benchmark figures and write them to docs/BENCHMARKS.md with the machine and versions
	GO=$(GO) internal/bench/report.sh docs/BENCHMARKS.md

FUZZTIME ?= 10s
FUZZ_TARGETS = ./tasks:FuzzDecode ./internal/campaigns:FuzzReadCSV ./internal/campaigns:FuzzReadJSONL \
               ./internal/config:FuzzParse ./idp/keycloak:FuzzClassify ./idp/keygen:FuzzClassify ./idp/kratos:FuzzClassify ./idp/firebase:FuzzClassify ./idp/okta:FuzzClassify ./idp/cognito:FuzzClassify \
               ./webhook:FuzzSignatures
.PHONY: fuzz
fuzz: ## Fuzz every parser of outside input for FUZZTIME each (10s); the seed corpora run in `make test`
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; done

.PHONY: lint
lint: ## gofmt, go vet, staticcheck and a go.mod tidiness check
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags chaos,e2e,browser ./...
	$(GO) run $(STATICCHECK) -tags chaos,e2e,browser ./...
	$(GO) mod tidy -diff

.PHONY: vulncheck
vulncheck: ## govulncheck, against vuln.go.dev or, offline, the golang.org/x/vulndb module
	GO=$(GO) GOVULNCHECK=$(GOVULNCHECK) .ci/govulncheck

.PHONY: build
build: ## Build bin/resetq with the version stamped in
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/resetq ./cmd/resetq

OUT ?= bin/resetq-static
.PHONY: static
static: ## Build the static, stripped binary the container image ships (OUT=path)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $(OUT) ./cmd/resetq

.PHONY: image
image: ## Build the container image resetq:$(VERSION) (needs a Docker engine)
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t resetq:$(VERSION) .

.PHONY: dev
dev: ## Run everything in one process against an emulated Keycloak
	$(GO) run ./cmd/resetq dev

.PHONY: need-tools
need-tools:
	@.ci/need-tools redis-server prometheus promtool chromium gcc npm
