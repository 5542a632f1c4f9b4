#!/usr/bin/env bash
# build.sh compiles the local cluster binaries (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd, kwok) at the versions
# pinned in versions.env into a cache folder outside the clone, and prints that
# folder on stdout. Logs and timing go to stderr. It does nothing when the
# stamp file says the pinned versions are already built.
#
# Environment:
#   RUNNER_CLUSTER_BIN_DIR  override the output folder
#   RUNNER_BUILD_P          go build -p (default 2)
#   RUNNER_BUILD_NICE       nice level (default 10)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"

key="k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}-kwok-${KWOK_VERSION}"
bin="${RUNNER_CLUSTER_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/runner/${key}/bin}"
stamp="$bin/.stamp"
want="$key"
p="${RUNNER_BUILD_P:-2}"
nicelvl="${RUNNER_BUILD_NICE:-10}"

log() { printf '%s build.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

mkdir -p "$bin"
exec 9>"$bin/.lock"
flock 9

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok; do
		[[ -x "$bin/$b" ]] || { rm -f "$stamp"; break; }
	done
fi
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	log "up to date ($want)"
	echo "$bin"
	exit 0
fi
rm -f "$stamp"

# versions.env is the one place versions are set: regenerate the tools
# modules when they disagree with it (commit the result).
sync_tools_modules() {
	local kmod="$here/tools/k8s/go.mod" emod="$here/tools/etcd/go.mod"
	if ! grep -q "k8s.io/kubernetes ${KUBERNETES_VERSION}\$" "$kmod" ||
		! grep -q "=> k8s.io/api ${K8S_STAGING_VERSION}\$" "$kmod"; then
		log "regenerating tools/k8s/go.mod for ${KUBERNETES_VERSION}"
		local upstream
		upstream="$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
		{
			printf 'module github.com/scenario-runner/runner/localcluster/tools/k8s\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBERNETES_VERSION"
			grep -E '^\s*k8s.io/[a-z-]+ => \./staging' "$upstream" | awk -v v="$K8S_STAGING_VERSION" '{print "\t"$1" => "$1" "v}'
			printf ')\n'
		} >"$kmod"
		(cd "$here/tools/k8s" && go mod tidy)
	fi
	if ! grep -q "go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\$" "$emod"; then
		log "updating tools/etcd/go.mod to etcd ${ETCD_VERSION}"
		(cd "$here/tools/etcd" && go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}" && go mod tidy)
	fi
}
sync_tools_modules

start=$SECONDS
major="${KUBERNETES_VERSION#v}"; major="${major%%.*}"
minor="${KUBERNETES_VERSION#v*.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}"
ldflags+=" -X k8s.io/component-base/version.gitMajor=${major} -X k8s.io/component-base/version.gitMinor=${minor}"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"

t=$SECONDS
log "building etcd ${ETCD_VERSION}"
(cd "$here/tools/etcd" && nice -n "$nicelvl" go build -p "$p" -trimpath \
	-ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}" -o "$bin/etcd" .)
log "etcd done in $((SECONDS - t))s"

t=$SECONDS
log "building kwok ${KWOK_VERSION}"
GOBIN="$bin" nice -n "$nicelvl" go install -p "$p" -trimpath \
	-ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" \
	"sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
log "kwok done in $((SECONDS - t))s"

t=$SECONDS
log "building kube-apiserver kube-controller-manager kube-scheduler kubectl ${KUBERNETES_VERSION} (slow: several minutes)"
(cd "$here/tools/k8s" && nice -n "$nicelvl" go build -p "$p" -trimpath -ldflags "$ldflags" -o "$bin/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kubectl)
log "kubernetes done in $((SECONDS - t))s"

echo "$want" >"$stamp"
log "all binaries built in $((SECONDS - start))s"
echo "$bin"
