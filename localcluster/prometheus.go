package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PrometheusProcess names the Prometheus add-on's log and pid files.
const PrometheusProcess = "prometheus"

// PrometheusBin finds the Prometheus binary that build-prometheus.sh
// builds: $RUNNER_PROMETHEUS_BIN, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/runner/prometheus-<version>/bin/prometheus.
// localcluster never builds it.
func PrometheusBin() (string, error) {
	bin := os.Getenv("RUNNER_PROMETHEUS_BIN")
	if bin == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("locating the user cache folder: %w", err)
		}
		bin = filepath.Join(cache, "runner", "prometheus-"+PinnedVersions().Prometheus, "bin", "prometheus")
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("prometheus %s not found at %s (run `make prometheus-bin` or localcluster/build-prometheus.sh: about 4 minutes cold)", PinnedVersions().Prometheus, bin)
	}
	return bin, nil
}

// prometheusConfig scrapes the API server (as the admin) and every
// longhorn-manager pod, found with Kubernetes service discovery (role pod,
// the container port named "manager"), labelled with pod and namespace as
// a ServiceMonitor would.
func prometheusConfig(dir, apiserver string) string {
	pki := filepath.Join(dir, "pki")
	host := strings.TrimPrefix(apiserver, "https://")
	return fmt.Sprintf(`# Written by runner sim up --prometheus.
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: kube-apiserver
    scheme: https
    tls_config:
      ca_file: %[1]s/ca.crt
      cert_file: %[1]s/admin.crt
      key_file: %[1]s/admin.key
    static_configs:
      - targets: [%[2]q]
  - job_name: longhorn-manager
    kubernetes_sd_configs:
      - role: pod
        kubeconfig_file: %[3]s
        namespaces: {names: [longhorn-system]}
        selectors: [{role: pod, label: app=longhorn-manager}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_container_port_name]
        action: keep
        regex: manager
      - source_labels: [__meta_kubernetes_pod_phase]
        action: keep
        regex: Running
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
`, pki, host, filepath.Join(dir, "kubeconfig"))
}

// StartPrometheus runs Prometheus (bin) as an add-on process of the
// cluster, listening on a free loopback port, its data in
// <Dir>/prometheus, and returns its URL once /-/ready answers. The URL is
// also written to <Dir>/prometheus/url.
func (c *Cluster) StartPrometheus(ctx context.Context, bin string) (string, error) {
	dir := filepath.Join(c.opts.Dir, "prometheus")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return "", fmt.Errorf("prometheus folder: %w", err)
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(prometheusConfig(c.opts.Dir, c.cfg.Host)), 0o644); err != nil {
		return "", fmt.Errorf("prometheus config: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	args := []string{
		"--config.file=" + conf,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=1d",
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(port),
	}
	if err := c.StartProcess(ctx, PrometheusProcess, bin, args...); err != nil {
		return "", fmt.Errorf("start prometheus: %w", err)
	}
	p, err := c.proc(PrometheusProcess)
	if err != nil {
		return "", err
	}
	rctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	if err := p.waitReady(rctx, httpCheck(nil, url+"/-/ready")); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "url"), []byte(url+"\n"), 0o644); err != nil {
		return "", err
	}
	return url, nil
}

// PrometheusURL reads the URL StartPrometheus wrote into dir.
func PrometheusURL(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "prometheus", "url"))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no Prometheus in %s (sim up --prometheus starts one)", dir)
	}
	return strings.TrimSpace(string(b)), err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
