package eval

import (
	"fmt"
	"testing"
)

func TestReads(t *testing.T) {
	scope := NewScope(map[string]any{"object": map[string]any{}, "key": "k", "volumes": nil})
	tests := []struct {
		src  string
		want string
	}{
		{`object.status?.phase == "Running"`, `{false [[status phase]]}`},
		{`object.status.conditions[0].type == "Ready"`, `{false [[status conditions 0 type]]}`},
		{`object.status != nil && object.status.phase == "x"`, `{false [[status] [status phase]]}`},
		{`len(object.data ?? {}) > 1`, `{false [[data]]}`},
		{`object.metadata.name in volumes`, `{false [[metadata name]]}`},
		{`object.data[key] == "v"`, `{false [[data]]}`},
		{`any(object.status.conditions, .type == "Ready")`, `{false [[status conditions]]}`},
		{`object?.spec?.replicas == 3`, `{false [[spec replicas]]}`},
		{`object[key] == 1`, `{true []}`},
		{`len(object) > 0`, `{true []}`},
		{`toJSON(object) != ""`, `{true []}`},
		{`key == "k"`, `{false []}`},
	}
	for _, tt := range tests {
		p, err := Compile(tt.src, spanOf(tt.src), 0, scope, Any)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if got := fmt.Sprint(p.Reads("object")); got != tt.want {
			t.Errorf("Reads(%s) = %s, want %s", tt.src, got, tt.want)
		}
	}
}

func TestElemReads(t *testing.T) {
	scope := NewScope(map[string]any{"objects": []any{}, "i": 1})
	tests := []struct {
		src  string
		want string
	}{
		{`len(objects)`, `{false []}`},
		{`objects[0].metadata.name`, `{false [[metadata name]]}`},
		{`objects[i].spec?.nodeName`, `{false [[spec nodeName]]}`},
		{`map(objects, .spec.volumeName)`, `{false [[spec volumeName]]}`},
		{`map(objects, .metadata.uid + " " + .metadata.name)`, `{false [[metadata uid] [metadata name]]}`},
		{`count(objects, .status.phase == "Running") + len(objects)`, `{false [[status phase]]}`},
		{`objects[len(objects)-1].metadata.name`, `{false [[metadata name]]}`},
		{`objects`, `{true []}`},
		{`objects[0]`, `{true []}`},
		{`filter(objects, .x == 1)`, `{true []}`},
		{`map(objects, #)`, `{true []}`},
		{`map(objects, toJSON(#))`, `{true []}`},
		{`map(objects, .spec[.key])`, `{false [[spec] [key]]}`},
		{`map(objects, map(.items, .x))`, `{false [[items]]}`},
		{`map(objects, .metadata.uid + find(.status.conditions, .type == "Ready").lastTransitionTime)`, `{false [[metadata uid] [status conditions]]}`},
		{`map(objects, map(.items, #.x + toJSON(#)))`, `{false [[items]]}`},
	}
	for _, tt := range tests {
		p, err := Compile(tt.src, spanOf(tt.src), 0, scope, Any)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if got := fmt.Sprint(p.ElemReads("objects")); got != tt.want {
			t.Errorf("ElemReads(%s) = %s, want %s", tt.src, got, tt.want)
		}
	}
}
