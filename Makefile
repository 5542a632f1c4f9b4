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

.PHONY: all build image test unit lint actionlint fuzz demo schema bench soak soak-ready soak-faults clean

all: build

build:
	$(GO) build -o $(BIN) .

# runner's container image, without Docker or a registry (image/): a static
# binary built with -trimpath and no build id, one root-owned layer with it,
# CA certificates and the user nonroot (65532), labels with the version and
# commit. Writes bin/runner-image.tar (docker load, crane push) and the OCI
# layout bin/runner-image-oci/, and prints the digest: the same commit and Go
# toolchain give the same digest on any machine. Knobs: IMAGE_VERSION,
# IMAGE_ARCH (amd64, arm64). The Dockerfile builds the same files with Docker.
IMAGE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_ARCH ?= amd64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image:
	$(GO) run ./image/cmd/build -version $(IMAGE_VERSION) -revision $(IMAGE_REVISION) -created $(SOURCE_DATE_EPOCH) \
	  -arch $(IMAGE_ARCH) -binary-out bin/runner-linux-$(IMAGE_ARCH) -tar bin/runner-image.tar -layout bin/runner-image-oci

# Lint, unit and integration tests (on a local control plane started per test
# binary), and a short fuzz of the plan loader.
test: cluster-bins prometheus-bin lint actionlint
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
# of their own (~2 hours on 2 idle cores with the 10,000-volume seed; not part of test). Writes
# bench/results/<date>.json and the generated part of docs/benchmarks.md.
# Knobs: BENCH_FLAGS, e.g. "--suites apply,wait --rounds 3" (bin/bench -h).
BENCH_FLAGS ?=
bench: build cluster-bins
	bench/build.sh >/dev/null
	$(GO) build -o bin/bench ./bench/cmd/bench
	bin/bench $(BENCH_FLAGS)

# Soak: soak-ready, then soak-faults. Not part of test.
soak: soak-ready soak-faults

# Soak the local cluster: start it, run the cluster-stays-ready plan
# SOAK_ROUNDS times in a row (about 4.3 min each; 3 rounds keep the cluster up
# about 13 min), then fail if kube-controller-manager ever logged "disruption
# mode" (nodes gone silent). The logs stay in SOAK_DIR/logs. SOAK_ROUNDS=0
# skips it.
SOAK_ROUNDS ?= 3
SOAK_DIR ?= .sim/soak
soak-ready: build cluster-bins
	@set -u; rc=0; [[ $(SOAK_ROUNDS) -gt 0 ]] || exit 0; \
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

# The fault-injection tests of faults/ with SOAK_TRIALS trials each (SIGINT
# at random points 0-10 s into an apply, an invalid object in a forEach,
# SIGKILL then runner cleanup --run, a second Ctrl-C) on a cluster of their
# own; prints per test the trials, the objects left at the end of them
# (after runner cleanup where a trial runs it) and false passes (exit 0, or
# a summary saying fewer left than the cluster held). About 20 s per trial
# of the four (20 trials: 8 min).
SOAK_TRIALS ?= 20
soak-faults: cluster-bins
	@set -u -o pipefail; mkdir -p $(SOAK_DIR); rc=0; \
	env -u KUBECONFIG FAULT_TRIALS=$(SOAK_TRIALS) FAULT_SIGINT_MAX=10s \
	  $(GO) test -count=1 -timeout 90m -v -run 'SIGINT|Invalid|SIGKILL|SecondInterrupt' ./faults > $(SOAK_DIR)/faults.log 2>&1 || rc=$$?; \
	grep -E '^\s*(--- (PASS|FAIL)|ok|FAIL)' $(SOAK_DIR)/faults.log; \
	awk '/FAULT test=/ { for (i = 1; i <= NF; i++) { split($$i, kv, "="); f[kv[1]] = kv[2] } \
	  n[f["test"]]++; left[f["test"]] += f["remaining"]; \
	  if (f["exit"] == 0 || f["left_summary"] < f["left_cluster"]) fp[f["test"]]++ } \
	  END { for (t in n) printf "soak: %s: %d trials, %d objects left, %d false passes\n", t, n[t], left[t], fp[t] + 0 }' $(SOAK_DIR)/faults.log; \
	exit $$rc

clean:
	rm -rf bin .sim
