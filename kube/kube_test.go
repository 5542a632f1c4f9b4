package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// A legacy (non-aggregated) discovery endpoint serving ConfigMaps in v1.
func discoveryServer(t *testing.T) (*httptest.Server, func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	hits := map[string]int{}
	bodies := map[string]string{
		"/version": `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`,
		"/api":     `{"kind":"APIVersions","versions":["v1"]}`,
		"/apis":    `{"kind":"APIGroupList","apiVersion":"v1","groups":[]}`,
		"/api/v1":  `{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"configmaps","singularName":"configmap","namespaced":true,"kind":"ConfigMap","verbs":["get","list","watch"]}]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		body, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range hits {
			out[k] = v
		}
		return out
	}
}

// Check's discovery fills the mapper's cache: a run asks for the groups
// once, not once for Check and again for the first mapping (found by
// bench/: 4 discovery requests per run instead of 2).
func TestCheckAndMappingDiscoverOnce(t *testing.T) {
	srv, hits := discoveryServer(t)
	c, err := NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v, err := c.Check(ctx); err != nil || v != "v1.37.2" {
		t.Fatalf("Check() = %q, %v", v, err)
	}
	m, err := c.Mapping(ctx, schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Resource.Resource != "configmaps" {
		t.Errorf("mapped to %v", m.Resource)
	}
	got := hits()
	for _, p := range []string{"/version", "/api", "/apis", "/api/v1"} {
		if got[p] != 1 {
			t.Errorf("%s requested %d times, want once (all: %v)", p, got[p], got)
		}
	}
}

func TestLoadQPS(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		qps     float32
		want    float32
		limited bool
	}{
		{qps: 200, want: 200, limited: true},
		{qps: 0, want: 0, limited: true}, // client-go's default
		{qps: -1, want: -1, limited: false},
		{qps: -5, want: -1, limited: false},
	} {
		cfg, _, err := Load(Options{Kubeconfig: kc, QPS: tc.qps, Burst: 10})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.QPS != tc.want {
			t.Errorf("QPS %v: config QPS %v, want %v", tc.qps, cfg.QPS, tc.want)
		}
		rc, err := rest.UnversionedRESTClientFor(dynamic.ConfigFor(cfg))
		if err != nil {
			t.Fatal(err)
		}
		if limited := rc.GetRateLimiter() != nil; limited != tc.limited {
			t.Errorf("QPS %v: rate limited %v, want %v", tc.qps, limited, tc.limited)
		}
	}
}
