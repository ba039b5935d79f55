# Kizuna — two commands do everything: `make run` and `make test`.
# Everything else here supports them or CI.

SHELL := /bin/bash
GO ?= go
GOBIN := $(CURDIR)/bin
export PATH := $(GOBIN):$(PATH)

# Pinned tool versions: `make generate` must reproduce gen/ byte for byte.
BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPC_GATEWAY_VERSION := v2.33.0
GOOGLE_PROTO_FILES_VERSION := 6.0.1

MODULES := gen services/platform services/analytics services/ingestion \
	services/segmentation services/metrics services/campaign services/gateway services/suite \
	deploy/helmcheck
PKGS := $(addsuffix /...,$(addprefix ./,$(MODULES)))

DATA_DIR ?= ./data
RUN_FLAGS ?=

# bin/kizuna is phony too: `go build` decides what is stale, not make.
.PHONY: run build bin/kizuna image image-check test test-race bench generate checkgenerate protodeps tools lint breaking ci clean \
	console checkconsole console-test e2e

## run: build and start the whole suite on embedded defaults (REST on :8080).
run: bin/kizuna
	./bin/kizuna --data-dir $(DATA_DIR) $(RUN_FLAGS)

## build: build the all-in-one binary and the per-service binaries into ./bin.
build: bin/kizuna
	$(GO) build -o bin/ ./services/ingestion/cmd/... ./services/segmentation/cmd/... \
		./services/metrics/cmd/... ./services/campaign/cmd/... ./services/gateway/cmd/...

bin/kizuna:
	@mkdir -p bin
	$(GO) build -o bin/kizuna ./services/suite/cmd/kizuna

## image: build the container image holding every binary (needs a Docker daemon).
IMAGE ?= kizuna:dev
image:
	docker build -t $(IMAGE) .

## image-check: build the image and start the all-in-one in it until /readyz
## answers; says it skipped when no Docker daemon is reachable (deploy/imagecheck.sh).
image-check:
	IMAGE=$(IMAGE) deploy/imagecheck.sh

## test: run every module's tests (external backends when KIZUNA_TEST_* are set).
test:
	$(GO) test -count=1 $(TEST_FLAGS) $(PKGS)

test-race:
	$(MAKE) test TEST_FLAGS=-race

## bench: the project's benchmarks; figures go to docs/BENCHMARKS.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(BENCH_FLAGS) $(PKGS)

## tools: install the pinned code generators into ./bin.
tools:
	@mkdir -p bin
	GOBIN=$(GOBIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(GOBIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(GOBIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	GOBIN=$(GOBIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
	GOBIN=$(GOBIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)

## protodeps: google/api protos from the pinned npm package (the buf registry is unreachable).
# Fetched once per version: the stamp file names the version installed.
# The stamp also names the file set, so a checkout fetched before
# field_behavior.proto was needed fetches again.
PROTODEPS_STAMP := third_party/googleapis/.google-proto-files-$(GOOGLE_PROTO_FILES_VERSION)-field-behavior
protodeps: $(PROTODEPS_STAMP)
$(PROTODEPS_STAMP):
	@rm -rf third_party/googleapis .cache/npm && mkdir -p third_party/googleapis/google/api .cache/npm
	cd .cache/npm && npm pack --silent google-proto-files@$(GOOGLE_PROTO_FILES_VERSION) >/dev/null && tar xzf google-proto-files-$(GOOGLE_PROTO_FILES_VERSION).tgz
	cp .cache/npm/package/google/api/annotations.proto .cache/npm/package/google/api/http.proto \
		.cache/npm/package/google/api/field_behavior.proto third_party/googleapis/google/api/
	@touch $@

## generate: regenerate gen/ and the gateway's OpenAPI document from proto/.
generate: tools protodeps
	rm -rf gen/kizuna gen/openapi
	buf generate
	cp gen/openapi/kizuna.swagger.json services/gateway/internal/openapi/kizuna.swagger.json

## checkgenerate: fail when gen/ differs from what proto/ generates.
checkgenerate: generate
	@if [ -n "$$(git status --porcelain -- gen services/gateway/internal/openapi)" ]; then \
		echo "gen/ is stale: run 'make generate' and commit the result"; \
		git status --porcelain -- gen services/gateway/internal/openapi; exit 1; fi

## lint: buf lint, gofmt, go vet, and the import boundary between services.
lint: tools protodeps
	buf lint
	@out="$$(gofmt -l $(MODULES))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	deploy/importboundary.sh

## breaking: compare the contracts against main.
breaking: tools protodeps
	buf breaking proto --against '.git#branch=main,subdir=proto'

## console: build the web console into services/gateway/internal/console/dist
## (committed, embedded by go:embed). Needs Node only here, never for make run.
CONSOLE_DIST := services/gateway/internal/console/dist
console:
	cd console && npm ci --no-audit --no-fund && npm run build

## checkconsole: fail when the committed console build, or the TypeScript API
## types generated from the OpenAPI document (console/src/api/schema.d.ts),
## differ from what console/ builds.
CONSOLE_GENERATED := $(CONSOLE_DIST) console/src/api/schema.d.ts
checkconsole: console
	@if [ -n "$$(git status --porcelain -- $(CONSOLE_GENERATED))" ]; then \
		echo "the console build or its generated API types are stale: run 'make console' and commit the result"; \
		git status --porcelain -- $(CONSOLE_GENERATED); exit 1; fi

## console-test: the console's unit tests (Vitest).
console-test:
	cd console && npm ci --no-audit --no-fund && npm test

## e2e: the console in headless Chromium against the built binary (see console/e2e),
## on the embedded backends, and on PostgreSQL + JetStream when KIZUNA_TEST_* are set.
e2e: bin/kizuna
	cd console && npm ci --no-audit --no-fund && KIZUNA_BIN=$(CURDIR)/bin/kizuna npm run e2e
	@if [ -n "$$KIZUNA_TEST_POSTGRES_URL" ] && [ -n "$$KIZUNA_TEST_NATS_URL" ]; then \
		cd console && KIZUNA_BIN=$(CURDIR)/bin/kizuna KIZUNA_E2E_BACKEND=external npm run e2e; fi

## ci: lint, checkgenerate and test in one make run, so shared prerequisites run once.
# .ci/run calls it with the external backends required.
ci: lint checkgenerate checkconsole console-test test e2e

clean:
	rm -rf bin .cache third_party
