package rbac_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	authv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/rest"

	"github.com/scenario-runner/runner/rbac"
)

// reviewServer answers SelfSubjectAccessReviews: allowed unless deny says
// otherwise, or with status code when it is set.
func reviewServer(t *testing.T, code int, deny func(authv1.ResourceAttributes) bool) (*rest.Config, *atomic.Int32) {
	var asked atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews") {
			http.NotFound(w, r)
			return
		}
		asked.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if code != 0 {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"selfsubjectaccessreviews.authorization.k8s.io is forbidden"}`))
			return
		}
		var review authv1.SelfSubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			t.Error(err)
		}
		review.Status.Allowed = !deny(*review.Spec.ResourceAttributes)
		_ = json.NewEncoder(w).Encode(review)
	}))
	t.Cleanup(ts.Close)
	return &rest.Config{Host: ts.URL, QPS: -1, ContentConfig: rest.ContentConfig{ContentType: "application/json"}}, &asked
}

func TestPreflight(t *testing.T) {
	p := derive(t, `name: p
collect: {events: false}
steps:
  - scale: {apiVersion: apps/v1, kind: StatefulSet, name: s, replicas: 2}
  - exec: {namespace: app, name: web-0, command: [true]}
`)
	cfg, asked := reviewServer(t, 0, func(a authv1.ResourceAttributes) bool {
		return a.Subresource == "exec" || (a.Resource == "statefulsets" && a.Subresource == "" && a.Verb == "patch")
	})
	missing, err := rbac.Preflight(t.Context(), cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range missing {
		got = append(got, m.String())
	}
	want := []string{
		"cannot create pods/exec in namespace app: needed by plan.yaml:5 exec web-0: true",
		"cannot patch statefulsets.apps in namespace default: needed by plan.yaml:4 scale StatefulSet s (restore)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("missing:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	verbs := 0
	for _, r := range p.Rules {
		verbs += len(r.Verbs)
	}
	if int(asked.Load()) != verbs {
		t.Errorf("%d reviews for %d verbs", asked.Load(), verbs)
	}
	grant, err := rbac.Grant(missing).YAML(rbac.Options{})
	if err != nil || !strings.Contains(string(grant), "      - pods/exec\n    verbs:\n      - create\n") {
		t.Errorf("the rules that grant what is missing:\n%s (%v)", grant, err)
	}
}

// TestPreflightNotAllowedToAsk: a server that refuses the review itself is
// named as the reason, with --no-preflight as the way out.
func TestPreflightNotAllowedToAsk(t *testing.T) {
	p := derive(t, "name: p\nsteps:\n  - waitFor: {apiVersion: v1, kind: Pod, name: x, condition: \"true\"}\n")
	cfg, _ := reviewServer(t, http.StatusForbidden, nil)
	_, err := rbac.Preflight(t.Context(), cfg, p)
	if !errors.Is(err, rbac.ErrNoReview) || !strings.Contains(err.Error(), "--no-preflight") {
		t.Errorf("got %v, want ErrNoReview naming --no-preflight", err)
	}
}
