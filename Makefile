# runner's one entry point for people and CI. `make demo` and `make test` are
# the README's first two commands.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin/runner
SIM_DIR ?= .sim/demo
# Scenario knobs for the demo, e.g. make demo DEMO_FLAGS="--set replicas=5".
DEMO_FLAGS ?=
FUZZTIME ?= 15s

include localcluster/build.mk

.PHONY: all build test unit lint actionlint fuzz demo schema bench soak clean

all: build

build:
	$(GO) build -o $(BIN) .

# Lint, unit and integration tests (on a local control plane started per test
# binary), and a short fuzz of the plan loader.
test: cluster-bins lint actionlint
	$(GO) test -count=1 -timeout 45m ./...
	$(MAKE) fuzz

# Unit tests only: no cluster.
unit:
	$(GO) test -short -count=1 ./...

lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$bad" ]]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...

# Lint the GitHub workflows; their run: scripts too when shellcheck is installed.
actionlint:
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12 $$(command -v shellcheck >/dev/null || echo -shellcheck=) .github/workflows/*.yaml

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./engine

schema:
	$(GO) run . schema > schemas/scenario.schema.json
	$(GO) run . schema --report > schemas/report.schema.json

# Build what is missing, start the local cluster with the Longhorn simulator,
# run the seed scenario, print the result, stop the cluster; exit with the
# scenario's exit code.
demo: build cluster-bins
	@set -u; rc=0; \
	$(BIN) sim down --dir $(SIM_DIR) >/dev/null 2>&1 || true; \
	trap '$(BIN) sim down --dir $(SIM_DIR)' EXIT; \
	$(BIN) sim up --dir $(SIM_DIR) || exit $$?; \
	KUBECONFIG=$(SIM_DIR)/kubeconfig $(BIN) $(DEMO_FLAGS) scenarios/bi-scalability.yaml || rc=$$?; \
	exit $$rc

# Benchmarks against kubectl, chainsaw and a client-go loop on a local cluster
# of their own (33 minutes on 2 idle cores; not part of test). Writes
# bench/results/<date>.json and the generated part of docs/benchmarks.md.
# Knobs: BENCH_FLAGS, e.g. "--suites apply,wait --rounds 3" (bin/bench -h).
BENCH_FLAGS ?=
bench: build cluster-bins
	bench/build.sh >/dev/null
	$(GO) build -o bin/bench ./bench/cmd/bench
	bin/bench $(BENCH_FLAGS)

# Soak the local cluster: start it, run the cluster-stays-ready plan
# SOAK_ROUNDS times in a row (about 4.3 min each; 3 rounds keep the cluster up
# about 13 min), then fail if kube-controller-manager ever logged "disruption
# mode" (nodes gone silent). The logs stay in SOAK_DIR/logs. Not part of test.
SOAK_ROUNDS ?= 3
SOAK_DIR ?= .sim/soak
soak: build cluster-bins
	@set -u; rc=0; \
	$(BIN) sim down --dir $(SOAK_DIR) >/dev/null 2>&1 || true; \
	trap '$(BIN) sim down --dir $(SOAK_DIR)' EXIT; \
	$(BIN) sim up --dir $(SOAK_DIR) || exit $$?; \
	for i in $$(seq $(SOAK_ROUNDS)); do \
	  echo "soak: round $$i of $(SOAK_ROUNDS)"; \
	  KUBECONFIG=$(SOAK_DIR)/kubeconfig $(BIN) --log-level warn scenarios/examples/cluster-stays-ready.yaml || { rc=$$?; break; }; \
	done; \
	if grep 'disruption mode' $(SOAK_DIR)/logs/kube-controller-manager.log; then rc=1; \
	else echo "soak: kube-controller-manager never logged disruption mode"; fi; \
	exit $$rc

clean:
	rm -rf bin .sim
