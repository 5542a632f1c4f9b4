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
		{qps: 0, want: 0, limited: true}, // automatic: limited until the server shows priority and fairness
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

// With no --qps, the client is limited until the server shows it has
// priority and fairness: its API group in discovery, or its header on an
// answer.
func TestAutoLimit(t *testing.T) {
	for _, tc := range []struct {
		name          string
		groups        string
		header        bool
		wantUnlimited bool
	}{
		{name: "no priority and fairness", groups: `[]`},
		{name: "group served", groups: `[{"name":"flowcontrol.apiserver.k8s.io","versions":[{"groupVersion":"flowcontrol.apiserver.k8s.io/v1","version":"v1"}]}]`, wantUnlimited: true},
		{name: "header", groups: `[]`, header: true, wantUnlimited: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header {
					w.Header().Set("X-Kubernetes-PF-FlowSchema-UID", "uid-1")
				}
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/version":
					_, _ = w.Write([]byte(`{"gitVersion":"v1.37.2"}`))
				case "/api":
					_, _ = w.Write([]byte(`{"kind":"APIVersions","versions":["v1"]}`))
				case "/apis":
					_, _ = w.Write([]byte(`{"kind":"APIGroupList","apiVersion":"v1","groups":` + tc.groups + `}`))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			kc := filepath.Join(t.TempDir(), "kubeconfig")
			if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \""+srv.URL+"\"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := New(Options{Kubeconfig: kc})
			if err != nil {
				t.Fatal(err)
			}
			l := c.Config.RateLimiter.(*autoLimiter)
			if l.off.Load() || l.QPS() != FallbackQPS {
				t.Fatalf("before Check: off %v, QPS %v", l.off.Load(), l.QPS())
			}
			if _, err := c.Check(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := l.off.Load(); got != tc.wantUnlimited {
				t.Errorf("unlimited after Check = %v, want %v (%s)", got, tc.wantUnlimited, c.ClientLimit())
			}
			// Limited, the bucket holds its burst, then makes callers wait.
			n := 0
			for l.TryAccept() && n < 2*FallbackBurst {
				n++
			}
			if want := map[bool]int{false: FallbackBurst, true: 2 * FallbackBurst}[tc.wantUnlimited]; n < want-5 || n > want {
				t.Errorf("accepted %d requests at once, want about %d", n, want)
			}
		})
	}
}
