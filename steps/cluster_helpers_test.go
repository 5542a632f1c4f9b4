package steps_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/result"
	"github.com/scenario-runner/runner/steps"
)

// liveCluster connects to the shared local cluster (skipped with -short).
func liveCluster(t *testing.T) *kube.Client {
	t.Helper()
	cfg := clustertest.Config(t)
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := kube.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runLive writes plan (and extra files) to a temp folder, loads it and runs
// it against the shared cluster.
func runLive(t *testing.T, c *kube.Client, plan string, files map[string]string, ov ...engine.Override) *result.Plan {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := engine.Load(path, engine.LoadOptions{Registry: steps.Kinds(), Overrides: ov})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return engine.Run(ctx, p, engine.RunOptions{Cluster: c, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
}

func mustPass(t *testing.T, r *result.Plan) {
	t.Helper()
	if r.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	if r.Cleanup != nil && (len(r.Cleanup.Left) > 0 || len(r.Cleanup.Errors) > 0) {
		t.Fatalf("cleanup left %v, errors %v", r.Cleanup.Left, r.Cleanup.Errors)
	}
}

// count lists objects of gvr in ns with a label selector.
func count(t *testing.T, c *kube.Client, gvr schema.GroupVersionResource, ns, selector string) int {
	t.Helper()
	l, err := c.Dynamic().Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

var (
	configMaps   = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	namespaces   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	statefulSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	crds         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)
