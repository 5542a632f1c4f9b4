package eval

import (
	"fmt"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/diag"
)

func TestPaths(t *testing.T) {
	scope := NewScope(map[string]any{"object": map[string]any{}, "want": 3, "key": "k"})
	tests := []struct {
		src  string
		want string
	}{
		{`object.status?.phase == "Running"`, `[[status phase]]`},
		{`object.status.readyReplicas == object.spec["replicas"] && want > 1`, `[[status readyReplicas] [spec replicas]]`},
		{`object.status.conditions[0].type == "Ready" && object.status != nil`, `[[status conditions 0 type]]`},
		{`object.metadata.name == object.metadata.name`, `[[metadata name]]`},
		{`len(object.data ?? {}) > want`, `[[data]]`},
		{`object[key] == 1`, `[]`},
	}
	for _, tt := range tests {
		p, err := Compile(tt.src, spanOf(tt.src), 0, scope, Any)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if got := fmt.Sprint(p.Paths("object")); got != tt.want {
			t.Errorf("Paths(%s) = %s, want %s", tt.src, got, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	scope := NewScope(map[string]any{"p90": time.Duration(0), "max": time.Duration(0), "min": time.Duration(0), "limit": "1s"})
	src := `max < 2 * min || p90 < duration(limit) || max > min`
	p, err := Compile(src, spanOf(src), 0, scope, Bool)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(p.Names()); got != "[max min p90 limit]" {
		t.Errorf("Names = %s", got)
	}
}

func spanOf(src string) diag.Span {
	return diag.SpanOf(diag.NewSource("t.yaml", []byte(src)), &yaml.Node{Kind: yaml.ScalarNode, Value: src, Line: 1, Column: 1})
}
