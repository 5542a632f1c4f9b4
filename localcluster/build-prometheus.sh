#!/usr/bin/env bash
# build-prometheus.sh compiles Prometheus at the version pinned in
# versions.env into a cache folder outside the clone (for `runner sim up
# --prometheus`) and prints the binary's path on stdout. Logs go to stderr.
# It does nothing when the binary is there. `-tags remove_all_sd` leaves out
# the service discoveries (about 4 minutes cold on 2 cores) but Kubernetes'
# (enable_kubernetes_sd), with which it finds the longhorn-manager pods as a
# real cluster's Prometheus does; the web UI is not in the Go module, the
# HTTP API is.
#
# Environment:
#   RUNNER_PROMETHEUS_BIN_DIR  override the output folder
#   RUNNER_BUILD_P             go build -p (default 2)
#   RUNNER_BUILD_NICE          nice level (default 10)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"

bin="${RUNNER_PROMETHEUS_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/runner/prometheus-${PROMETHEUS_VERSION}/bin}"
p="${RUNNER_BUILD_P:-2}"
nicelvl="${RUNNER_BUILD_NICE:-10}"

log() { printf '%s build-prometheus.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

mkdir -p "$bin"
exec 9>"$bin/.lock"
flock 9

if [[ -x "$bin/prometheus" ]]; then
	log "up to date (prometheus ${PROMETHEUS_VERSION})"
	echo "$bin/prometheus"
	exit 0
fi
# Module v0.316.0 is Prometheus 3.16.0.
num="${PROMETHEUS_VERSION#v0.}"
release="${num:0:1}.${num:1}"
start=$SECONDS
log "building prometheus ${PROMETHEUS_VERSION} (about 4 minutes cold)"
CGO_ENABLED=0 GOFLAGS="-buildvcs=false" GOBIN="$bin" nice -n "$nicelvl" go install -p "$p" -trimpath -tags remove_all_sd,enable_kubernetes_sd \
	-ldflags "-s -w -X github.com/prometheus/common/version.Version=${release}" \
	"github.com/prometheus/prometheus/cmd/prometheus@${PROMETHEUS_VERSION}"
log "prometheus built in $((SECONDS - start))s"
echo "$bin/prometheus"
