#!/usr/bin/env bash
# build.sh compiles the benchmark's peers that localcluster/build.sh does not
# (chainsaw, at the version required by the tools module bench/tools) into a
# cache folder outside the clone, and prints that folder on stdout. Logs go to
# stderr. A stamp file makes it a no-op once built; a lock makes concurrent
# runs safe. kubectl comes from localcluster/build.sh.
#
# Environment:
#   RUNNER_BENCH_BIN_DIR  override the output folder
#   RUNNER_BUILD_P        go build -p (default 2)
#   RUNNER_BUILD_NICE     nice level (default 10)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's/^\tgithub.com\/kyverno\/chainsaw \(v[^ ]*\).*/\1/p' "$here/tools/go.mod")"
[[ -n "$version" ]] || { echo "build.sh: no chainsaw version in $here/tools/go.mod" >&2; exit 1; }
key="bench-chainsaw-${version}"
bin="${RUNNER_BENCH_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/runner/${key}/bin}"
stamp="$bin/.stamp"
p="${RUNNER_BUILD_P:-2}"
nicelvl="${RUNNER_BUILD_NICE:-10}"

log() { printf '%s bench/build.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

mkdir -p "$bin"
exec 9>"$bin/.lock"
flock 9

if [[ -f "$stamp" && "$(cat "$stamp")" == "$key" && -x "$bin/chainsaw" ]]; then
	log "up to date ($key)"
	echo "$bin"
	exit 0
fi
rm -f "$stamp"

t=$SECONDS
log "building chainsaw ${version} (a few minutes)"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
(cd "$here/tools" && nice -n "$nicelvl" go build -p "$p" -trimpath -ldflags "-s -w" -o "$bin/chainsaw" github.com/kyverno/chainsaw)
echo "$key" >"$stamp"
log "chainsaw done in $((SECONDS - t))s"
echo "$bin"
