package diag_test

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/diag"
)

// valueOf parses text and returns the value node of the first key named
// key, searching depth first.
func valueOf(t *testing.T, text, key string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	if n := find(&doc, key); n != nil {
		return n
	}
	t.Fatalf("no key %q in %q", key, text)
	return nil
}

func find(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	for _, c := range n.Content {
		if v := find(c, key); v != nil {
			return v
		}
	}
	return nil
}

// posOf is the file position of the first occurrence of sub on 1-based
// line of text, which the test cases use to say where a rune really is.
func posOf(t *testing.T, text string, line int, sub string) diag.Pos {
	t.Helper()
	l := strings.Split(text, "\n")[line-1]
	i := strings.Index(l, sub)
	if i < 0 {
		t.Fatalf("%q not on line %d (%q)", sub, line, l)
	}
	return diag.Pos{File: "f.yaml", Line: line, Col: len([]rune(l[:i])) + 1}
}

func TestSpanPos(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		key  string
		// at is the substring of the value whose first rune is looked
		// up; line is the file line it really stands on.
		at   string
		line int
	}{
		{"plain", "a:\n  expr: n + nope\n", "expr", "nope", 2},
		{"plain at offset 0", "expr: n\n", "expr", "n", 1},
		{"double quoted", "expr: \"n + nope\"\n", "expr", "nope", 1},
		{"single quoted", "  expr: 'n + nope'\n", "expr", "nope", 1},
		{"flow mapping", "a: {expr: n + nope}\n", "expr", "nope", 1},
		{"literal, first line", "a:\n  expr: |\n    first\n    second nope\n", "expr", "first", 3},
		{"literal, later line", "a:\n  expr: |\n    first\n    second nope\n", "expr", "nope", 4},
		{"literal, after an empty line", "expr: |-\n  one\n\n  three nope\n", "expr", "nope", 4},
		{"literal, more-indented line", "expr: |\n  one\n    two nope\n", "expr", "nope", 3},
		{"literal with keep chomping", "expr: |+\n  one\n  two nope\n\nnext: 1\n", "expr", "nope", 3},
		{"folded, first line", "cond: >-\n  first\n  && nope\n", "cond", "first", 2},
		{"folded, second line", "cond: >-\n  first\n  && nope\n", "cond", "nope", 3},
		{"folded, third line", "cond: >\n  a\n  && b\n  && nope\n", "cond", "nope", 4},
		{"folded, after an empty line", "cond: >-\n  a\n\n  b nope\n", "cond", "nope", 4},
		{"folded, more-indented line", "cond: >\n  a\n    b nope\n  c\n", "cond", "nope", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := diag.NewSource("f.yaml", []byte(tc.text))
			n := valueOf(t, tc.text, tc.key)
			sp := diag.SpanOf(src, n)
			if sp.Text != n.Value {
				t.Fatalf("Text = %q, want %q", sp.Text, n.Value)
			}
			i := strings.Index(sp.Text, tc.at)
			if i < 0 {
				t.Fatalf("%q not in value %q", tc.at, sp.Text)
			}
			off := len([]rune(sp.Text[:i]))
			if got, want := sp.Pos(off), posOf(t, tc.text, tc.line, tc.at); got != want {
				t.Errorf("Pos(%d) of %q = %v, want %v", off, tc.at, got, want)
			}
		})
	}
}

// A manifest inline in a plan is parsed on its own; its nodes are located
// through the span of the block scalar, and positions land in the plan.
func TestSpanAsLocatorOfEmbeddedYAML(t *testing.T) {
	plan := strings.Join([]string{
		"steps:", // 1
		"  - apply:",
		"      manifest: |",
		"        apiVersion: v1",
		"        kind: ConfigMap", // 5
		"        data:",
		"          plain: ${{ n + nope }}",
		"          quoted: \"${{ n }} and ${{ m }}\"",
		"          block: |",
		"            x: 1", // 10
		"            y: ${{ n }}",
		"          folded: >-",
		"            ${{ n }}", // 13
		"            + ${{ nope }}",
		"",
		"",
	}, "\n")
	src := diag.NewSource("f.yaml", []byte(plan))
	outer := diag.SpanOf(src, valueOf(t, plan, "manifest"))
	for _, tc := range []struct {
		key, at string
		line    int
	}{
		{"plain", "nope", 7},
		{"quoted", "${{ m }}", 8},
		{"block", "${{ n }}", 11},
		{"folded", "${{ nope }}", 14},
	} {
		t.Run(tc.key, func(t *testing.T) {
			inner := valueOf(t, outer.Text, tc.key)
			sp := diag.SpanOf(outer, inner)
			i := strings.Index(sp.Text, tc.at)
			want := posOf(t, plan, tc.line, tc.at)
			if got := sp.Pos(len([]rune(sp.Text[:i]))); got != want {
				t.Errorf("Pos of %q = %v, want %v", tc.at, got, want)
			}
			e := sp.Errorf(len([]rune(sp.Text[:i])), "bad")
			if e.Pos != want || e.Source != strings.Split(plan, "\n")[tc.line-1] {
				t.Errorf("Errorf at %v with source %q, want %v", e.Pos, e.Source, want)
			}
		})
	}
	// NodeError through the span names the node's start in the plan.
	data := valueOf(t, outer.Text, "data")
	e := diag.NodeError(outer, data, "data %s", "here")
	if want := (diag.Pos{File: "f.yaml", Line: 7, Col: 11}); e.Pos != want || e.Msg != "data here" {
		t.Errorf("NodeError = %v (%q), want at %v", e.Pos, e.Msg, want)
	}
	if e.Source != "          plain: ${{ n + nope }}" {
		t.Errorf("NodeError source = %q", e.Source)
	}
}

func TestSpanLocate(t *testing.T) {
	text := "expr: |\n  ab\n  cdef\n"
	src := diag.NewSource("f.yaml", []byte(text))
	sp := diag.SpanOf(src, valueOf(t, text, "expr"))
	for _, tc := range []struct {
		line, col int
		want      diag.Pos
	}{
		{1, 1, diag.Pos{File: "f.yaml", Line: 2, Col: 3}},
		{1, 2, diag.Pos{File: "f.yaml", Line: 2, Col: 4}},
		{2, 1, diag.Pos{File: "f.yaml", Line: 3, Col: 3}},
		{2, 4, diag.Pos{File: "f.yaml", Line: 3, Col: 6}},
	} {
		if got := sp.Locate(tc.line, tc.col); got != tc.want {
			t.Errorf("Locate(%d, %d) = %v, want %v", tc.line, tc.col, got, tc.want)
		}
	}
	if sp.Source() != src {
		t.Errorf("Source() is not the file")
	}
}

func TestNodeErrorInFile(t *testing.T) {
	text := "a:\n  b: [1, 2]\n"
	src := diag.NewSource("f.yaml", []byte(text))
	e := diag.NodeError(src, valueOf(t, text, "b"), "want %d", 3)
	if got := e.Render(); got != "f.yaml:2:6: want 3\n    b: [1, 2]\n       ^" {
		t.Errorf("Render() =\n%s", got)
	}
}

func TestSyntaxAt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		text      string
		line, col int
		msg       string // a part of the message
		ok        bool
	}{
		{"flow sequence never closed", "a: [1, 2\nb: 3\n", 2, 1, "']' must be specified", true},
		{"flow mapping never closed", "a: {x: 1\n", 1, 4, "flow mapping end token '}'", true},
		{"double quote never closed", "a: \"abc\n", 1, 4, "double-quoted", true},
		{"list item indented less than its siblings", "items:\n  - a\n - b\n", 3, 2, "not allowed in this context", true},
		{"key beside a list item", "steps:\n  - name: x\n  apply: 1\n", 3, 3, "not allowed in this context", true},
		{"misindented list item after a mapping", "steps:\n  - name: x\n    apply: {}\n   - name: y\n", 4, 4, "not allowed in this context", true},
		{"tab as indentation", "\ta: 1\n", 1, 2, "tab character", true},
		{"valid mapping", "a: 1\nb: [1, 2]\n", 0, 0, "", false},
		{"valid multi-document", "a: 1\n---\nb: 2\n", 0, 0, "", false},
		{"empty", "", 0, 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, col, msg, ok := diag.SyntaxAt([]byte(tc.text))
			if line != tc.line || col != tc.col || ok != tc.ok || !strings.Contains(msg, tc.msg) || (!ok && msg != "") {
				t.Errorf("SyntaxAt = %d:%d %q %v, want %d:%d %q %v", line, col, msg, ok, tc.line, tc.col, tc.msg, tc.ok)
			}
		})
	}
}
