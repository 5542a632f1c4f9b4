package localcluster

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

//go:embed versions.env
var versionsEnv string

// Versions are the pinned versions of the cluster binaries, read from
// versions.env, the single place where they are set.
type Versions struct {
	Kubernetes string
	Etcd       string
	KWOK       string
	// Prometheus is the module version of github.com/prometheus/prometheus
	// that build-prometheus.sh builds for `sim up --prometheus`.
	Prometheus string
}

// PinnedVersions returns the versions pinned in versions.env.
func PinnedVersions() Versions {
	kv := map[string]string{}
	for _, line := range strings.Split(versionsEnv, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			kv[k] = v
		}
	}
	return Versions{Kubernetes: kv["KUBERNETES_VERSION"], Etcd: kv["ETCD_VERSION"], KWOK: kv["KWOK_VERSION"], Prometheus: kv["PROMETHEUS_VERSION"]}
}

// Key names a build of the binaries; it is also the cache folder's name.
func (v Versions) Key() string {
	return fmt.Sprintf("k8s-%s-etcd-%s-kwok-%s", v.Kubernetes, v.Etcd, v.KWOK)
}

// binaries lists every executable the cluster needs.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"}

// DefaultBinDir returns where build.sh puts the binaries:
// $RUNNER_CLUSTER_BIN_DIR if set, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/runner/<Versions.Key>/bin.
func DefaultBinDir() (string, error) {
	if d := os.Getenv("RUNNER_CLUSTER_BIN_DIR"); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locating the user cache folder: %w", err)
	}
	return filepath.Join(cache, "runner", PinnedVersions().Key(), "bin"), nil
}

// CheckBinDir reports which binaries are missing from dir, if any, in an
// error that says how to build them.
func CheckBinDir(dir string) error {
	var missing []string
	for _, b := range binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cluster binaries missing from %s: %s (run `make cluster-bins` or localcluster/build.sh)",
			dir, strings.Join(missing, ", "))
	}
	return nil
}
