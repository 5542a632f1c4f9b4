package engine

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/decode"
	"github.com/scenario-runner/runner/engine/diag"
)

// Expr is an expression written as a YAML scalar, e.g.
// `condition: object.status?.phase == "Running"`. Wrapping it in ${{ }} is
// allowed and means the same. It is compiled by the step kind's Build, which
// knows the names in scope.
type Expr struct {
	Src  string
	Span diag.Span
	base int // rune offset of Src in Span.Text
	Pos  diag.Pos
	set  bool
}

// IsSet reports whether the key was present.
func (e Expr) IsSet() bool { return e.set }

// DecodeYAML implements decode.Unmarshaler.
func (e *Expr) DecodeYAML(d *decode.Decoder, n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return d.Errorf(n, "expected an expression, got %s", decode.Describe(n))
	}
	e.Span = diag.SpanOf(d.Loc, n)
	e.Src, e.base = unwrap(n.Value)
	e.Pos = d.Pos(n)
	e.set = true
	if strings.TrimSpace(e.Src) == "" {
		return d.Errorf(n, "empty expression")
	}
	return nil
}

// unwrap strips one ${{ }} around the whole of s, returning the inner
// source and its rune offset in s.
func unwrap(s string) (string, int) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "${{") && strings.HasSuffix(t, "}}") && strings.Count(t, "${{") == 1 {
		lead := len(s) - len(strings.TrimLeft(s, " \t\n"))
		return t[3 : len(t)-2], utf8.RuneCountInString(s[:lead]) + 3
	}
	return s, 0
}

// Text is a string that may embed ${{ expr }}; compiled by Build.
type Text struct {
	Value string
	Span  diag.Span
	Pos   diag.Pos
	set   bool
}

// IsSet reports whether the key was present.
func (t Text) IsSet() bool { return t.set }

// DecodeYAML implements decode.Unmarshaler.
func (t *Text) DecodeYAML(d *decode.Decoder, n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return d.Errorf(n, "expected a string, got %s", decode.Describe(n))
	}
	t.Value, t.Span, t.Pos, t.set = n.Value, diag.SpanOf(d.Loc, n), d.Pos(n), true
	return nil
}

// IntOrExpr is an integer literal or an expression yielding one.
type IntOrExpr struct {
	Literal int
	Expr    Expr
	// Pos is where the value is written, for errors about it.
	Pos diag.Pos
	set bool
}

// IsSet reports whether the key was present.
func (i IntOrExpr) IsSet() bool { return i.set }

// DecodeYAML implements decode.Unmarshaler.
func (i *IntOrExpr) DecodeYAML(d *decode.Decoder, n *yaml.Node) error {
	i.set, i.Pos = true, d.Pos(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		var v int
		if err := n.Decode(&v); err != nil {
			return d.Errorf(n, "expected an integer, got %s", decode.Describe(n))
		}
		i.Literal = v
		return nil
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return d.Errorf(n, "expected an integer or an expression, got %s", decode.Describe(n))
	}
	return i.Expr.DecodeYAML(d, n)
}

// Flag is a boolean written in a plan, with where it is written.
type Flag struct {
	Value bool
	Pos   diag.Pos
	set   bool
}

// IsSet reports whether the key was present.
func (f Flag) IsSet() bool { return f.set }

// On reports whether the key was present and true.
func (f Flag) On() bool { return f.set && f.Value }

// DecodeYAML implements decode.Unmarshaler.
func (f *Flag) DecodeYAML(d *decode.Decoder, n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return d.Errorf(n, "expected true or false, got %s", decode.Describe(n))
	}
	if err := n.Decode(&f.Value); err != nil {
		return d.Errorf(n, "expected true or false, got %s", decode.Describe(n))
	}
	f.Pos, f.set = d.Pos(n), true
	return nil
}

// Duration is a Go duration literal such as 90s, 5m or 1h30m.
type Duration struct {
	time.Duration
	set bool
}

// IsSet reports whether the key was present.
func (d Duration) IsSet() bool { return d.set }

// DecodeYAML implements decode.Unmarshaler.
func (dur *Duration) DecodeYAML(d *decode.Decoder, n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return d.Errorf(n, "expected a duration such as 30s or 5m, got %s", decode.Describe(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return d.Errorf(n, "expected a duration such as 30s, 5m or 1h30m, got %q", n.Value)
	}
	dur.Duration, dur.set = v, true
	return nil
}

// Node is raw YAML kept with the means to locate it, for step kinds that
// decode part of their spec themselves (nested steps, manifests).
type Node struct {
	Node *yaml.Node
	Loc  diag.Locator
}

// DecodeYAML implements decode.Unmarshaler.
func (r *Node) DecodeYAML(d *decode.Decoder, n *yaml.Node) error {
	r.Node, r.Loc = n, d.Loc
	return nil
}

func (r Node) String() string { return fmt.Sprintf("node at %d:%d", r.Node.Line, r.Node.Column) }

// Pos is where the node starts in its file.
func (r Node) Pos() diag.Pos { return r.Loc.Locate(r.Node.Line, r.Node.Column) }

// NodeList is raw YAML that must be a list (a JSON patch's operations).
type NodeList struct{ Node }

// JSONSchema implements JSONSchemaer.
func (NodeList) JSONSchema() map[string]any { return map[string]any{"type": "array"} }
