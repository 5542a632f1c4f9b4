package steps

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/manifest"
)

// render refuses, before building anything, a forEach over more than
// maxItems elements and more than nodesPerItem × maxItems YAML nodes.
func TestRenderLimits(t *testing.T) {
	small := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"n-${{ item }}\"}\n" // 9 nodes
	wide := func(pairs int) string {                                                  // 9 + 2 + 2 × pairs nodes
		var keys []string
		for i := range pairs {
			keys = append(keys, fmt.Sprintf("k%d: v", i))
		}
		return small + "data: {" + strings.Join(keys, ", ") + "}\n"
	}
	for _, tc := range []struct {
		name, doc, forEach string
		maxItems           int
		want               string // "" for success
	}{
		{"at maxItems", small, "1..10", 10, ""},
		{"over maxItems", small, "1..11", 10, "forEach: 11 elements, more than maxItems (10)"},
		{"over the default", small, "1..100001", DefaultMaxItems, "forEach: 100001 elements, more than maxItems (100000)"},
		{"nodes within 40 per item", wide(14), "1..10", 10, ""},
		{"nodes over 40 per item", wide(15), "1..10", 10, "the step would render 410 YAML nodes (10 elements × 41), more than 40 × maxItems (10)"},
	} {
		scope := eval.NewScope(nil).With("item", nil)
		docs, err := manifest.Parse(tc.doc, diag.NewSource("m.yaml", []byte(tc.doc)), scope)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		fe, err := eval.Compile(tc.forEach, diag.Span{}, 0, eval.NewScope(nil), eval.List)
		if err != nil {
			t.Fatal(err)
		}
		a := &applyAction{docs: docs, forEach: forEach{list: fe, as: "item"}, maxItems: tc.maxItems}
		objs, err := a.render(eval.Values{})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		case tc.want == "" && len(objs) == 0:
			t.Errorf("%s: nothing rendered", tc.name)
		}
	}
}

// TestForEachBoundedLetsRunningItemsFinish: after the first error no new
// item starts, and the items already running finish with a live context
// (a request cancelled on the client may still create its object on the
// server, behind cleanup's back).
func TestForEachBoundedLetsRunningItemsFinish(t *testing.T) {
	var mu sync.Mutex
	started, cancelled := map[int]bool{}, 0
	release := make(chan struct{})
	err := forEachBounded(t.Context(), 100, 4, func(ctx context.Context, i int) error {
		mu.Lock()
		started[i] = true
		mu.Unlock()
		if i == 0 {
			// Fail once the others are running.
			for {
				mu.Lock()
				n := len(started)
				mu.Unlock()
				if n == 4 {
					break
				}
				runtime.Gosched()
			}
			close(release)
			return errors.New("item 0 is invalid")
		}
		<-release
		if ctx.Err() != nil {
			mu.Lock()
			cancelled++
			mu.Unlock()
		}
		return nil
	})
	if err == nil || err.Error() != "item 0 is invalid" {
		t.Fatalf("err = %v, want item 0's", err)
	}
	if cancelled != 0 {
		t.Errorf("%d running items saw a cancelled context, want 0", cancelled)
	}
	if len(started) != 4 {
		t.Errorf("%d items started, want the 4 running when item 0 failed", len(started))
	}
}
