package eval

import (
	"fmt"
	"strings"
	"testing"
)

// TestInSet: `x in name` gives expr's answer whether it is rewritten to a
// set lookup or not, for lists of strings long and short, mixed lists,
// maps and nil.
func TestInSet(t *testing.T) {
	long := make([]any, 100)
	for i := range long {
		long[i] = fmt.Sprintf("pvc-%d", i)
	}
	mixed := append(append([]any{}, long...), 7, nil)
	tests := []struct {
		src  string
		vals Values
		want bool
	}{
		{`name in list`, Values{"name": "pvc-42", "list": long}, true},
		{`name in list`, Values{"name": "pvc-100", "list": long}, false},
		{`name not in list`, Values{"name": "pvc-100", "list": long}, true},
		{`name in list`, Values{"name": "b", "list": []any{"a", "b"}}, true},
		{`name in list`, Values{"name": 7, "list": mixed}, true},
		{`name in list`, Values{"name": "pvc-3", "list": mixed}, true},
		{`name in list`, Values{"name": 7.0, "list": mixed}, true}, // expr's numeric equality
		{`name in list`, Values{"name": 7, "list": long}, false},
		{`name in list`, Values{"name": "pvc-1", "list": nil}, false},
		{`name in list`, Values{"name": "k", "list": map[string]any{"k": 1}}, true},
		{`name in list || name in other`, Values{"name": "pvc-5", "list": []any{}, "other": long}, true},
	}
	scope := NewScope(map[string]any{"name": nil, "list": nil, "other": nil})
	for _, tt := range tests {
		for _, set := range []bool{true, false} {
			p, err := compile(tt.src, spanOf(tt.src), 0, scope, Bool, set)
			if err != nil {
				t.Fatalf("%s: %v", tt.src, err)
			}
			for range 2 { // the second run finds the set built
				got, err := p.Bool(tt.vals)
				if err != nil || got != tt.want {
					t.Errorf("%s with %v (set lookup %v) = %v, %v; want %v", tt.src, tt.vals["name"], set, got, err, tt.want)
				}
			}
		}
	}
	p, _ := Compile(`name in list`, spanOf(`name in list`), 0, scope, Bool)
	if tree := p.prog.Node().String(); !strings.Contains(tree, inSetName+"(") {
		t.Errorf("name in list was not rewritten: %s", tree)
	}
	if got := fmt.Sprint(p.Names(), p.Identifiers()); got != "[name list] [list name]" {
		t.Errorf("names of a rewritten `in`: %s", got)
	}
}

// BenchmarkInCondition is the seed's condition over a list of 10,000
// names, per evaluation (one event of a wait): expr's linear `in` against
// the set lookup.
func BenchmarkInCondition(b *testing.B) {
	names := make([]any, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("pvc-%08d", i)
	}
	obj := map[string]any{"metadata": map[string]any{"name": "pvc-00009999"}}
	scope := NewScope(map[string]any{"object": map[string]any{}, "volumes": nil})
	src := `object.metadata.name in volumes`
	for _, set := range []bool{false, true} {
		b.Run(fmt.Sprintf("set=%v", set), func(b *testing.B) {
			p, err := compile(src, spanOf(src), 0, scope, Bool, set)
			if err != nil {
				b.Fatal(err)
			}
			vals := Values{"object": obj, "volumes": names}
			for b.Loop() {
				if ok, err := p.Bool(vals); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
