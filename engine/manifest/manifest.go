// Package manifest parses multi-document Kubernetes manifests whose strings
// may embed ${{ expr }}, checks their shape and compiles every expression
// once, at load time, and renders objects from them at run time.
//
// A manifest can be inline in a plan (a block scalar) or a file; either way
// each document keeps the position of its first line, so errors name the
// file, line and column of the document they concern.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/scenario-runner/runner/engine/decode"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/redact"
)

// Limits of the manifests of one plan, checked at load time so that a plan
// that would exhaust memory never starts.
const (
	// MaxDocuments is the most documents one step may apply.
	MaxDocuments = 10_000
	// MaxNodes bounds the YAML nodes of all the manifests of one plan with
	// every alias and merge key expanded, the way Render builds them: a
	// "billion laughs" of a few lines expands to billions. A node costs
	// about 250 bytes once parsed.
	MaxNodes = 400_000
)

// Budget is what the manifests of one plan may still hold; Parse takes
// from it. The zero value is empty: use NewBudget.
type Budget struct{ nodes int }

// NewBudget returns the budget of one plan, MaxNodes.
func NewBudget() *Budget { return &Budget{nodes: MaxNodes} }

// Spent reports whether the budget is used up (an error said so).
func (b *Budget) Spent() bool { return b.nodes < 0 }

// Doc is one compiled document of a manifest.
type Doc struct {
	Pos       diag.Pos
	root      *yaml.Node
	templates map[*yaml.Node]*eval.Template
	nodes     int // with aliases expanded
}

// Nodes is the number of YAML nodes the document renders, aliases expanded.
func (d *Doc) Nodes() int { return d.nodes }

// Parse parses text (located through loc) into documents and compiles the
// templates of every string in scope. Every problem is returned together.
func Parse(text string, loc diag.Locator, scope *eval.Scope) ([]*Doc, error) {
	return ParseWithin(text, loc, scope, NewBudget())
}

// ParseWithin is Parse taking the documents' nodes from budget, which the
// manifests of one plan share.
func ParseWithin(text string, loc diag.Locator, scope *eval.Scope, budget *Budget) ([]*Doc, error) {
	var errs diag.List
	var docs []*Doc
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs.Add(syntaxError(loc, text, err))
			break
		}
		body := &n
		if body.Kind == yaml.DocumentNode {
			if len(body.Content) == 0 {
				continue
			}
			body = body.Content[0]
		}
		if body.Tag == "!!null" {
			continue // an empty document between ---
		}
		if len(docs) == MaxDocuments {
			errs.Add(diag.NodeError(loc, body, "more than %d documents in one manifest (split it over several steps)", MaxDocuments))
			break
		}
		d := &Doc{Pos: loc.Locate(body.Line, body.Column), root: body, templates: map[*yaml.Node]*eval.Template{}}
		d.nodes = decode.Expanded(body, budget.nodes)
		budget.nodes -= d.nodes
		if budget.nodes < 0 {
			errs.Add(diag.NodeError(loc, body, "the manifests of this plan expand to more than %d YAML nodes (aliases and merge keys counted each time they are used)", MaxNodes))
			break
		}
		checkShape(loc, body, &errs)
		d.compile(loc, body, scope, &errs)
		docs = append(docs, d)
	}
	if len(docs) == 0 && errs.Len() == 0 {
		p := loc.Locate(1, 1)
		errs.Add(loc.Source().Errorf(p.Line, p.Col, "the manifest holds no object"))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return docs, nil
}

func syntaxError(loc diag.Locator, text string, err error) error {
	if line, col, why, ok := diag.SyntaxAt([]byte(text)); ok {
		p := loc.Locate(line, col)
		return loc.Source().Errorf(p.Line, p.Col, "invalid YAML in manifest: %s", why)
	}
	var line int
	if _, scanErr := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); scanErr == nil {
		p := loc.Locate(line, 1)
		return loc.Source().Errorf(p.Line, p.Col, "invalid YAML in manifest: %v", err)
	}
	p := loc.Locate(1, 1)
	return loc.Source().Errorf(p.Line, p.Col, "invalid YAML in manifest: %v", err)
}

// checkShape requires apiVersion, kind and metadata.name (or generateName).
func checkShape(loc diag.Locator, n *yaml.Node, errs *diag.List) {
	if n.Kind != yaml.MappingNode {
		errs.Add(diag.NodeError(loc, n, "a manifest document must be a mapping (an object), got %s", decode.Describe(n)))
		return
	}
	get := func(m *yaml.Node, key string) *yaml.Node {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i+1]
			}
		}
		return nil
	}
	for _, key := range []string{"apiVersion", "kind"} {
		v := get(n, key)
		if v == nil {
			errs.Add(diag.NodeError(loc, n, "object has no %s", key))
		} else if v.Kind != yaml.ScalarNode || v.Value == "" {
			errs.Add(diag.NodeError(loc, v, "%s must be a non-empty string", key))
		}
	}
	md := get(n, "metadata")
	if md == nil || md.Kind != yaml.MappingNode {
		errs.Add(diag.NodeError(loc, n, "object has no metadata with a name"))
		return
	}
	if get(md, "name") == nil && get(md, "generateName") == nil {
		errs.Add(diag.NodeError(loc, md, "metadata has no name (or generateName)"))
	}
}

func (d *Doc) compile(loc diag.Locator, n *yaml.Node, scope *eval.Scope, errs *diag.List) {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			d.compile(loc, c, scope, errs)
		}
	case yaml.ScalarNode:
		if !eval.HasTemplate(n.Value) {
			return
		}
		t, err := eval.CompileTemplate(diag.SpanOf(loc, n), scope)
		if err != nil {
			errs.Add(err)
			return
		}
		d.templates[n] = t
	}
}

// Literal is the string at key of the document's top-level mapping when it
// is written out, without an expression.
func (d *Doc) Literal(key string) (string, bool) {
	if d.root.Kind != yaml.MappingNode {
		return "", false
	}
	for i := 0; i+1 < len(d.root.Content); i += 2 {
		k, v := d.root.Content[i], d.root.Content[i+1]
		if k.Value == key && v.Kind == yaml.ScalarNode && d.templates[v] == nil {
			return v.Value, true
		}
	}
	return "", false
}

// Static reports whether the document has no expression.
func (d *Doc) Static() bool { return len(d.templates) == 0 }

// Render builds the object with vals bound.
func (d *Doc) Render(vals eval.Values) (*unstructured.Unstructured, error) {
	v, err := d.value(d.root, vals)
	if err != nil {
		return nil, fmt.Errorf("manifest at %s: %w", d.Pos, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("manifest at %s: not an object", d.Pos)
	}
	// What a Secret holds is never printed (see package redact).
	redact.Default.Add(redact.ObjectValues(obj)...)
	return &unstructured.Unstructured{Object: obj}, nil
}

func (d *Doc) value(n *yaml.Node, vals eval.Values) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return d.value(n.Alias, vals)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := d.value(n.Content[i], vals)
			if err != nil {
				return nil, err
			}
			if n.Content[i].Tag == "!!merge" {
				merged, err := d.value(n.Content[i+1], vals)
				if err != nil {
					return nil, err
				}
				if mm, ok := merged.(map[string]any); ok {
					for mk, mv := range mm {
						if _, set := m[mk]; !set {
							m[mk] = mv
						}
					}
				}
				continue
			}
			v, err := d.value(n.Content[i+1], vals)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := d.value(c, vals)
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	case yaml.ScalarNode:
		if t, ok := d.templates[n]; ok {
			v, err := t.Eval(vals)
			if err != nil {
				return nil, err
			}
			// YAML's own rule: a quoted scalar is a string, whatever the
			// expression gives; a plain ${{ n }} keeps its type.
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				if _, isString := v.(string); !isString {
					return fmt.Sprint(v), nil
				}
			}
			return normalize(v), nil
		}
		return scalar(n)
	}
	return nil, nil
}

// scalar decodes a plain scalar the way Kubernetes' JSON would see it.
func scalar(n *yaml.Node) (any, error) {
	switch n.Tag {
	case "!!str", "":
		return n.Value, nil
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return i, nil
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f, nil
		}
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b, nil
		}
	case "!!null":
		return nil, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

// normalize turns expression results into JSON-compatible values
// (unstructured content takes int64, float64, string, bool, maps, slices).
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint:
		return int64(x)
	case float32:
		return float64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = int64(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case fmt.Stringer:
		return x.String()
	}
	return v
}

// CompileValue compiles the templates of any YAML value n (a patch body: a
// mapping or a list), located through loc, without the checks of an
// object's shape. Value renders it.
func CompileValue(n *yaml.Node, loc diag.Locator, scope *eval.Scope) (*Doc, error) {
	var errs diag.List
	d := &Doc{Pos: loc.Locate(n.Line, n.Column), root: n, templates: map[*yaml.Node]*eval.Template{}}
	d.compile(loc, n, scope, &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return d, nil
}

// Value renders the document as a plain value (maps, lists, scalars).
func (d *Doc) Value(vals eval.Values) (any, error) {
	v, err := d.value(d.root, vals)
	if err != nil {
		return nil, fmt.Errorf("at %s: %w", d.Pos, err)
	}
	return v, nil
}
