package cli

import (
	"errors"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

func TestPrintLeft(t *testing.T) {
	cm := result.ObjectRef{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "a"}
	tests := []struct {
		name string
		c    result.Cleanup
		want string
	}{
		{"nothing left", result.Cleanup{}, ""},
		{"left, with the command", result.Cleanup{Left: []result.ObjectRef{cm}},
			"    left behind: ConfigMap/default/a\n    run R: `runner cleanup --run R` deletes what it left\n"},
		{"unverified after a second Ctrl-C", result.Cleanup{Left: []result.ObjectRef{cm}, LeftUnverified: true},
			"    possibly left behind: ConfigMap/default/a\n    run R: `runner cleanup --run R` deletes what it left\n"},
		{"retried", result.Cleanup{Retried: 3, LastRetried: "connection refused"},
			"    retried 3 request(s) after transient errors, the last: connection refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printLeft(&b, "R", &tt.c)
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

func TestCleanupSelectors(t *testing.T) {
	tests := []struct {
		o                cleanupOptions
		created, changed string
		usage            bool
	}{
		{o: cleanupOptions{run: "20261201-000000-abcdef"}, created: "runner.io/run=20261201-000000-abcdef", changed: "runner.io/changed-by=20261201-000000-abcdef"},
		{o: cleanupOptions{plan: "bi-scalability"}, created: "runner.io/plan=bi-scalability", changed: "runner.io/changed-plan=bi-scalability"},
		{o: cleanupOptions{all: true}, created: "runner.io/run", changed: "runner.io/changed-by"},
		{o: cleanupOptions{}, usage: true},
		{o: cleanupOptions{run: "x", all: true}, usage: true},
	}
	for _, tt := range tests {
		created, changed, err := tt.o.selectors()
		if tt.usage {
			if !errors.Is(err, ErrUsage) {
				t.Errorf("%+v: err %v, want a usage error", tt.o, err)
			}
			continue
		}
		if err != nil || created != tt.created || changed != tt.changed {
			t.Errorf("%+v: %q, %q, %v; want %q, %q", tt.o, created, changed, err, tt.created, tt.changed)
		}
	}
}

// runner cleanup skipped kinds it could not list without a word: each is
// named once (cleanup lists twice) and counted, which makes the exit 1.
func TestUnlistedKinds(t *testing.T) {
	nodes := schema.GroupResource{Resource: "nodes"}
	forbidden := &kube.ListError{Resource: nodes, Err: apierrors.NewForbidden(nodes, "", errors.New("RBAC"))}
	other := &kube.ListError{Resource: schema.GroupResource{Group: "longhorn.io", Resource: "volumes"}, Err: errors.New("the server is currently unable to handle the request")}
	tests := []struct {
		name  string
		errs  []error
		lines []string
		kinds int
	}{
		{"none", nil, nil, 0},
		{"forbidden, twice", []error{forbidden, forbidden}, []string{"cannot list nodes (forbidden): objects of this kind were not checked"}, 1},
		{"another error", []error{other}, []string{"cannot list volumes.longhorn.io (error: the server is currently unable to handle the request): objects of this kind were not checked"}, 1},
		{"discovery", []error{errors.New("discovery (those groups are skipped): x")}, []string{"discovery (those groups are skipped): x"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, kinds := unlisted(tt.errs)
			if !slices.Equal(lines, tt.lines) || kinds != tt.kinds {
				t.Errorf("got %q, %d; want %q, %d", lines, kinds, tt.lines, tt.kinds)
			}
		})
	}
}
