package engine

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/scenario-runner/runner/engine/decode"
	"github.com/scenario-runner/runner/engine/eval"
)

// RunIDVar is the built-in variable that holds the run's id
// (20261201-171833-a1b2c3): plans put it in names and namespaces so that two
// cells of one plan running at the same time do not collide.
const RunIDVar = "runID"

// ClusterLock is the lock that makes a plan run alone.
const ClusterLock = "cluster"

// MatrixSpec is the YAML shape of a plan's matrix: a mapping from a
// variable to the list of its values, kept as a node for positions.
type MatrixSpec struct{ Node }

// JSONSchema implements JSONSchemaer.
func (MatrixSpec) JSONSchema() map[string]any {
	return map[string]any{
		"type":                 "object",
		"additionalProperties": map[string]any{"type": "array", "minItems": 1},
	}
}

// Axis is one variable of a matrix and the values the cells give it, in
// the plan's order.
type Axis struct {
	Var    string
	Values []any
}

var lockName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)

// suiteKeys checks labels and locks and reads the matrix of spec into p.
// pinned are the variables an override set: they leave the matrix (one cell
// per remaining combination).
func suiteKeys(d *decode.Decoder, spec *PlanSpec, body *yaml.Node, p *Plan, defaults eval.Values, pinned map[string]bool) {
	if n := valueOf(body, "labels"); n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if errs := validation.IsQualifiedName(k.Value); len(errs) > 0 {
				d.Errorf(k, "label key %q: %s", k.Value, strings.Join(errs, "; "))
			}
		}
	}
	p.Labels = spec.Labels
	if n := valueOf(body, "locks"); n != nil && n.Kind == yaml.SequenceNode {
		seen := map[string]bool{}
		for i, l := range spec.Locks {
			switch {
			case i >= len(n.Content):
			case !lockName.MatchString(l):
				d.Errorf(n.Content[i], "lock %q must be lower-case letters, digits, dots and dashes", l)
			case seen[l]:
				d.Errorf(n.Content[i], "lock %q is listed twice", l)
			}
			seen[l] = true
		}
	}
	p.Locks = spec.Locks
	n := spec.Matrix.Node.Node
	if n == nil || n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "matrix must be a mapping of variables to lists of values, got %s", decode.Describe(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		def, declared := defaults[k.Value]
		if !declared {
			msg := fmt.Sprintf("matrix variable %q is not declared in vars", k.Value)
			if s := decode.Suggest(k.Value, slices.Sorted(maps.Keys(defaults))); s != "" {
				msg += fmt.Sprintf(", did you mean %q?", s)
			} else {
				msg += " (a matrix gives values to variables the plan declares, with their defaults)"
			}
			d.Errorf(k, "%s", msg)
			continue
		}
		if slices.ContainsFunc(p.Matrix, func(a Axis) bool { return a.Var == k.Value }) {
			d.Errorf(k, "matrix variable %q appears twice", k.Value)
			continue
		}
		if v.Kind != yaml.SequenceNode {
			d.Errorf(v, "matrix.%s must be a list of values, got %s", k.Value, decode.Describe(v))
			continue
		}
		if len(v.Content) == 0 {
			d.Errorf(v, "matrix.%s is empty: give at least one value", k.Value)
			continue
		}
		ax := Axis{Var: k.Value}
		seen := map[string]bool{}
		ok := true
		for _, e := range v.Content {
			var x any
			if err := e.Decode(&x); err != nil {
				d.Errorf(e, "%v", err)
				ok = false
				continue
			}
			if want, got := typeClass(def), typeClass(x); want != "" && !compatible(want, got) {
				d.Errorf(e, "matrix.%s: %s has the default %s, a %s; this value is a %s", k.Value, k.Value, decode.Clip(cellValue(def)), want, got)
				ok = false
				continue
			}
			if i, isInt := x.(int); isInt && typeClass(def) == "number" {
				x = float64(i)
			}
			if id := cellValue(x); seen[id] {
				d.Errorf(e, "matrix.%s: the value %s is listed twice", k.Value, decode.Clip(id))
				ok = false
				continue
			} else {
				seen[id] = true
			}
			ax.Values = append(ax.Values, x)
		}
		if ok && !pinned[k.Value] {
			p.Matrix = append(p.Matrix, ax)
		}
	}
}

// typeClass names the kind of a YAML value for type checks: bool, integer,
// number, string, list, mapping, or "" for null (any type goes).
func typeClass(v any) string {
	switch v.(type) {
	case nil:
		return ""
	case bool:
		return "boolean"
	case int, int64, uint64:
		return "integer"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

// compatible says whether a value of class got may stand in for a default
// of class want (an integer is a number).
func compatible(want, got string) bool {
	return want == got || (want == "number" && got == "integer")
}

// Cells expands p's matrix: one plan per combination of the values, the
// first variable varying slowest, in the order the plan lists them. Each
// cell shares p's compiled steps (the values have the defaults' types) and
// has its own Vars, ID and Cell. A plan without a matrix is one cell, p
// itself with its ID set.
func (p *Plan) Cells() []*Plan {
	if len(p.Matrix) == 0 {
		if p.ID == "" {
			p.ID = p.Name
		}
		return []*Plan{p}
	}
	var out []*Plan
	idx := make([]int, len(p.Matrix))
	for {
		c := *p
		c.Vars = maps.Clone(p.Vars)
		c.Cell = map[string]any{}
		parts := make([]string, len(p.Matrix))
		for i, ax := range p.Matrix {
			v := ax.Values[idx[i]]
			c.Vars[ax.Var], c.Cell[ax.Var] = v, v
			parts[i] = ax.Var + "=" + cellValue(v)
		}
		c.ID = p.Name + "[" + strings.Join(parts, ",") + "]"
		out = append(out, &c)
		i := len(idx) - 1
		for ; i >= 0; i-- {
			if idx[i]++; idx[i] < len(p.Matrix[i].Values) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return out
		}
	}
}

// cellValue writes a matrix value for a cell id: numbers and booleans as
// YAML writes them, strings as they are; characters that do not belong in a
// file name become '_'.
func cellValue(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case nil:
		s = "null"
	default:
		if b, err := yaml.Marshal(x); err == nil {
			s = strings.TrimSpace(string(b))
		} else {
			s = fmt.Sprint(x)
		}
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-+:@%", r):
			return r
		}
		return '_'
	}, s)
}
