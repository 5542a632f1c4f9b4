package manifest_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/manifest"
)

var scope = eval.NewScope(map[string]any{"n": 1, "name": "", "ports": []any{1}, "on": true})

func parse(t *testing.T, text string) ([]*manifest.Doc, error) {
	t.Helper()
	return manifest.Parse(text, diag.NewSource("m.yaml", []byte(text)), scope)
}

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n"

func TestParseMultiDocument(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		// names and positions of the documents found
		names []string
		pos   []string
	}{
		{"one document", strings.Replace(cm, "%s", "a", 1), []string{"a"}, []string{"m.yaml:1:1"}},
		{"leading ---", "---\n" + strings.Replace(cm, "%s", "a", 1), []string{"a"}, []string{"m.yaml:2:1"}},
		{
			"two documents and empty ones between",
			"---\n" + strings.Replace(cm, "%s", "a", 1) + "---\n---\n# only a comment\n---\n" + strings.Replace(cm, "%s", "b", 1) + "---\n",
			[]string{"a", "b"}, []string{"m.yaml:2:1", "m.yaml:10:1"},
		},
		{
			"indented document and generateName",
			"---\n  apiVersion: v1\n  kind: Pod\n  metadata: {generateName: p-}\n",
			[]string{""}, []string{"m.yaml:2:3"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := parse(t, tc.text)
			if err != nil {
				t.Fatal(err)
			}
			var names, pos []string
			for _, d := range docs {
				obj, err := d.Render(nil)
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, obj.GetName())
				pos = append(pos, d.Pos.String())
				if !d.Static() {
					t.Errorf("document at %v is not static", d.Pos)
				}
			}
			if !reflect.DeepEqual(names, tc.names) || !reflect.DeepEqual(pos, tc.pos) {
				t.Errorf("documents %v at %v, want %v at %v", names, pos, tc.names, tc.pos)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []string
	}{
		{"nothing", "", []string{"m.yaml:1:1: the manifest holds no object"}},
		{"only separators and comments", "---\n# c\n---\n", []string{"m.yaml:1:1: the manifest holds no object"}},
		{"no apiVersion", "kind: Pod\nmetadata: {name: a}\n", []string{"m.yaml:1:1: object has no apiVersion"}},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}\n", []string{"m.yaml:1:1: object has no kind"}},
		{"empty kind", "apiVersion: v1\nkind: \"\"\nmetadata: {name: a}\n", []string{"m.yaml:2:7: kind must be a non-empty string"}},
		{"kind a list", "apiVersion: v1\nkind: [Pod]\nmetadata: {name: a}\n", []string{"m.yaml:2:7: kind must be a non-empty string"}},
		{"no metadata", "apiVersion: v1\nkind: Pod\n", []string{"m.yaml:1:1: object has no metadata with a name"}},
		{"metadata a scalar", "apiVersion: v1\nkind: Pod\nmetadata: a\n", []string{"m.yaml:1:1: object has no metadata with a name"}},
		{"metadata without name", "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {a: b}\n", []string{"m.yaml:4:3: metadata has no name (or generateName)"}},
		{"a list", "- a\n- b\n", []string{"m.yaml:1:1: a manifest document must be a mapping (an object), got a list"}},
		{"a scalar", "hello\n", []string{`m.yaml:1:1: a manifest document must be a mapping (an object), got the string "hello"`}},
		{
			"errors of every document, at each document's position",
			strings.Replace(cm, "%s", "ok", 1) + "---\nkind: Pod\n---\n  apiVersion: v1\n  kind: Pod\n  metadata: {}\n",
			[]string{
				"m.yaml:6:1: object has no apiVersion",
				"m.yaml:6:1: object has no metadata with a name",
				"m.yaml:10:13: metadata has no name (or generateName)",
			},
		},
		{"flow sequence never closed", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  args: [a, b\n  x: 1\n",
			[]string{"m.yaml:6:3: invalid YAML in manifest: ',' or ']' must be specified"}},
		{"misindented key", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n labels: {}\n",
			[]string{"m.yaml:5:2: invalid YAML in manifest: value is not allowed in this context"}},
		{"syntax error in a later document", strings.Replace(cm, "%s", "a", 1) + "---\na: {b\n",
			[]string{"m.yaml:6:5: invalid YAML in manifest: could not find flow map content"}},
		{"unknown name in a template", strings.Replace(cm, "%s", "a-${{ nope }}", 1),
			[]string{"m.yaml:4:15: unknown name nope (known names: n, name, on, ports)"}},
		{"unknown name in a quoted template", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: \"x ${{ n + nope }}\"\n",
			[]string{"m.yaml:5:17: unknown name nope (known names: n, name, on, ports)"}},
		{"unterminated template", strings.Replace(cm, "%s", "a-${{ n", 1),
			[]string{"m.yaml:4:11: unterminated ${{: expected }}"}},
		{"empty template", strings.Replace(cm, "%s", "a-${{ }}", 1),
			[]string{"m.yaml:4:14: empty expression in ${{ }}"}},
		{
			"shape and template errors together",
			"kind: Pod\nmetadata:\n  name: ${{ nope }}\n  labels: {a: \"${{ n +}}\"}\n",
			[]string{
				"m.yaml:1:1: object has no apiVersion",
				"m.yaml:3:13: unknown name nope (known names: n, name, on, ports)",
				"m.yaml:4:22: unexpected token EOF",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := parse(t, tc.text)
			if err == nil {
				t.Fatalf("Parse gave %d documents and no error", len(docs))
			}
			if docs != nil {
				t.Errorf("Parse gave documents with an error")
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestRenderTemplates(t *testing.T) {
	text := `apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-${{ name }}
  labels: &labels
    app: web
    n: "${{ n }}"
  annotations:
    <<: *labels
    app: overridden
data:
  whole: ${{ n }}
  double: "${{ n }}"
  single: '${{ n }}'
  mixed: ${{ n }}x
  twice: ${{ n }}-${{ n * 2 }}
  bool: ${{ on }}
  quotedBool: "${{ on }}"
  list: ${{ ports }}
  string: ${{ name }}
  ${{ name }}: key
  block: |
    n=${{ n }}
  static: 7
  float: 1.5
  yes: true
  none: ~
  plainText: hello
  quotedNumber: "8"
  items:
    - 1
    - "${{ n + 1 }}"
    - ${{ n + 1 }}
`
	docs, err := parse(t, text)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Static() {
		t.Fatalf("want one document with templates, got %d", len(docs))
	}
	// One compiled document renders with different values each time.
	for _, tc := range []struct {
		vals eval.Values
		want map[string]any
	}{
		{
			eval.Values{"n": 3, "name": "web", "ports": []any{80, 443}, "on": true},
			map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{
					"name":        "cm-web",
					"labels":      map[string]any{"app": "web", "n": "3"},
					"annotations": map[string]any{"app": "overridden", "n": "3"},
				},
				"data": map[string]any{
					"whole": int64(3), "double": "3", "single": "3", "mixed": "3x", "twice": "3-6",
					"bool": true, "quotedBool": "true",
					"list": []any{int64(80), int64(443)}, "string": "web", "web": "key", // keys are templates too
					"block": "n=3\n", "static": int64(7), "float": 1.5, "yes": true, "none": nil,
					"plainText": "hello", "quotedNumber": "8",
					"items": []any{int64(1), "4", int64(4)},
				},
			},
		},
		{
			eval.Values{"n": 10, "name": "db", "ports": []any{}, "on": false},
			map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{
					"name":        "cm-db",
					"labels":      map[string]any{"app": "web", "n": "10"},
					"annotations": map[string]any{"app": "overridden", "n": "10"},
				},
				"data": map[string]any{
					"whole": int64(10), "double": "10", "single": "10", "mixed": "10x", "twice": "10-20",
					"bool": false, "quotedBool": "false",
					"list": []any{}, "string": "db", "db": "key",
					"block": "n=10\n", "static": int64(7), "float": 1.5, "yes": true, "none": nil,
					"plainText": "hello", "quotedNumber": "8",
					"items": []any{int64(1), "11", int64(11)},
				},
			},
		},
	} {
		obj, err := docs[0].Render(tc.vals)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(obj.Object, tc.want) {
			t.Errorf("Render(%v) =\n%#v\nwant\n%#v", tc.vals, obj.Object, tc.want)
		}
	}
}

func TestRenderRuntimeError(t *testing.T) {
	docs, err := parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: \"${{ ports[3] }}\"}\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = docs[0].Render(eval.Values{"n": 1, "name": "", "ports": []any{1}, "on": true})
	if err == nil || !strings.HasPrefix(err.Error(), "manifest at m.yaml:1:1: ") {
		t.Errorf("Render error = %v, want one naming the document", err)
	}
}

// An inline manifest is a block scalar of the plan: positions are the plan's.
func TestParseInlineManifestNamesPlanPositions(t *testing.T) {
	plan := strings.Join([]string{
		"steps:",
		"  - apply:",
		"      manifest: |",
		"        apiVersion: v1",
		"        kind: ConfigMap",
		"        metadata: {name: a}",
		"        data:",
		"          k: ${{ nope }}",
		"          f: >-",
		"            ${{ n }}",
		"            ${{ n + nope }}",
		"        ---",
		"        kind: Secret",
		"        metadata: {name: b}",
		"",
	}, "\n")
	inline := inlineSpan(t, plan, "manifest")
	_, err := manifest.Parse(inline.Text, inline, scope)
	want := strings.Join([]string{
		"p.yaml:8:18: unknown name nope (known names: n, name, on, ports)",
		"p.yaml:11:21: unknown name nope (known names: n, name, on, ports)",
		"p.yaml:13:9: object has no apiVersion",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
	if r := diag.RenderAll(err); !strings.Contains(r, "p.yaml:8:18: unknown name nope (known names: n, name, on, ports)\n            k: ${{ nope }}\n                   ^\n") {
		t.Errorf("RenderAll:\n%s", r)
	}

	broken := strings.Replace(plan, "metadata: {name: a}", "metadata: {name: a", 1)
	inline = inlineSpan(t, broken, "manifest")
	_, err = manifest.Parse(inline.Text, inline, scope)
	if err == nil || !strings.HasPrefix(err.Error(), "p.yaml:7:9: invalid YAML in manifest: ") {
		t.Errorf("syntax error = %v, want one at p.yaml:7:9", err)
	}
}

func inlineSpan(t *testing.T, plan, key string) diag.Span {
	t.Helper()
	src := diag.NewSource("p.yaml", []byte(plan))
	return diag.SpanOf(src, nodeOf(t, plan, key))
}

func nodeOf(t *testing.T, text, key string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	var find func(n *yaml.Node) *yaml.Node
	find = func(n *yaml.Node) *yaml.Node {
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 && c.Value == key {
				return n.Content[i+1]
			}
			if v := find(c); v != nil {
				return v
			}
		}
		return nil
	}
	n := find(&doc)
	if n == nil {
		t.Fatalf("no %q", key)
	}
	return n
}

func TestCompileValueJSONPatch(t *testing.T) {
	plan := strings.Join([]string{
		"patch:",
		"  json:",
		"    - op: replace",
		"      path: /spec/replicas",
		"      value: ${{ n }}",
		"    - op: add",
		"      path: /metadata/labels/n",
		"      value: \"${{ n }}\"",
		"    - op: remove",
		"      path: /spec/template/spec/containers/${{ n - 1 }}",
		"",
	}, "\n")
	src := diag.NewSource("p.yaml", []byte(plan))
	d, err := manifest.CompileValue(nodeOf(t, plan, "json"), src, scope)
	if err != nil {
		t.Fatal(err)
	}
	if d.Static() || d.Pos.String() != "p.yaml:3:5" {
		t.Errorf("Static() = %v, Pos = %v", d.Static(), d.Pos)
	}
	for _, n := range []int{2, 5} {
		v, err := d.Value(eval.Values{"n": n})
		if err != nil {
			t.Fatal(err)
		}
		want := []any{
			map[string]any{"op": "replace", "path": "/spec/replicas", "value": int64(n)},
			map[string]any{"op": "add", "path": "/metadata/labels/n", "value": strconv.Itoa(n)},
			map[string]any{"op": "remove", "path": "/spec/template/spec/containers/" + strconv.Itoa(n-1)},
		}
		if !reflect.DeepEqual(v, want) {
			t.Errorf("Value(n=%d) =\n%#v\nwant\n%#v", n, v, want)
		}
	}
	if _, err := d.Render(eval.Values{"n": 1}); err == nil || err.Error() != "manifest at p.yaml:3:5: not an object" {
		t.Errorf("Render of a list = %v, want not an object", err)
	}
}

func TestCompileValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want any
		err  string
	}{
		{"static mapping, no shape checks", "spec: {replicas: 2}\n", map[string]any{"spec": map[string]any{"replicas": int64(2)}}, ""},
		{"scalar", "${{ n * 3 }}\n", int64(6), ""},
		{"quoted scalar", "'${{ n * 3 }}'\n", "6", ""},
		{"compile error", "- ${{ nope }}\n- ${{ n + }}\n", nil,
			"v.yaml:1:7: unknown name nope (known names: n, name, on, ports)\nv.yaml:2:10: unexpected token EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.text), &doc); err != nil {
				t.Fatal(err)
			}
			d, err := manifest.CompileValue(doc.Content[0], diag.NewSource("v.yaml", []byte(tc.text)), scope)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("CompileValue error = %v, want\n%s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := d.Value(eval.Values{"n": 2})
			if err != nil || !reflect.DeepEqual(v, tc.want) {
				t.Errorf("Value = %#v, %v, want %#v", v, err, tc.want)
			}
		})
	}
}
