// Package decode fills Go structs from yaml.v3 nodes strictly: unknown keys
// (with a "did you mean"), wrong types and missing required fields are
// errors at the exact line and column. It collects every error instead of
// stopping at the first, and it never touches a cluster.
//
// Struct fields use the tags
//
//	yaml:"name"          the key (",inline" embeds a struct's keys)
//	required:"true"      the key must be present
//	enum:"a,b,c"         the value must be one of these
//	doc:"..."            a description, used by the JSON Schema
//
// A field whose type implements Unmarshaler decodes itself.
package decode

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/diag"
)

// Unmarshaler is implemented by field types that decode themselves.
type Unmarshaler interface {
	DecodeYAML(d *Decoder, n *yaml.Node) error
}

// Decoder decodes nodes whose positions are located through Loc, and
// collects errors in Errs.
type Decoder struct {
	Loc  diag.Locator
	Errs *diag.List
}

// Errorf records an error at node n and returns it.
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) error {
	err := diag.NodeError(d.Loc, n, format, args...)
	d.Errs.Add(err)
	return err
}

// Pos returns the file position of n.
func (d *Decoder) Pos(n *yaml.Node) diag.Pos { return d.Loc.Locate(n.Line, n.Column) }

var (
	unmarshalerType = reflect.TypeOf((*Unmarshaler)(nil)).Elem()
	nodeType        = reflect.TypeOf(yaml.Node{})
)

// Decode fills the value out points to from n. Errors are recorded in d.Errs;
// the returned bool says whether decoding n itself went without error.
func (d *Decoder) Decode(n *yaml.Node, out any) bool {
	before := d.Errs.Len()
	d.value(resolve(n), reflect.ValueOf(out).Elem())
	return d.Errs.Len() == before
}

// resolve follows aliases and unwraps documents.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return n
		}
	}
	return n
}

func (d *Decoder) value(n *yaml.Node, v reflect.Value) {
	n = resolve(n)
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		_ = v.Addr().Interface().(Unmarshaler).DecodeYAML(d, n)
		return
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Tag == "!!null" {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.value(n, p.Elem())
		v.Set(p)
	case reflect.Struct:
		d.structValue(n, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.Errorf(n, "expected a list, got %s", Describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.Errorf(n, "expected a mapping, got %s", Describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := resolve(n.Content[i]), n.Content[i+1]
			e := reflect.New(v.Type().Elem()).Elem()
			d.value(val, e)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			d.Errorf(n, "expected a string, got %s", Describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.Errorf(n, "expected true or false, got %s", Describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
			d.Errorf(n, "expected an integer, got %s", Describe(n))
			return
		}
		if v.OverflowInt(i) {
			d.Errorf(n, "the integer %s does not fit in %s", n.Value, v.Kind())
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			d.Errorf(n, "expected a number, got %s", Describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.Errorf(n, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		panic(fmt.Sprintf("decode: unsupported field type %s", v.Type()))
	}
}

// Field describes one key of a struct.
type Field struct {
	Key      string
	Index    []int
	Required bool
	Enum     []string
	Doc      string
	Type     reflect.Type
}

// Fields lists the keys of struct type t, inline structs flattened.
func Fields(t reflect.Type) []Field {
	var out []Field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if opts == "inline" {
			for _, sub := range Fields(f.Type) {
				sub.Index = append([]int{i}, sub.Index...)
				out = append(out, sub)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name[:1]) + f.Name[1:]
		}
		fd := Field{Key: name, Index: []int{i}, Required: f.Tag.Get("required") == "true", Doc: f.Tag.Get("doc"), Type: f.Type}
		if e := f.Tag.Get("enum"); e != "" {
			fd.Enum = strings.Split(e, ",")
		}
		out = append(out, fd)
	}
	return out
}

func (d *Decoder) structValue(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "expected a mapping, got %s", Describe(n))
		return
	}
	fields := Fields(v.Type())
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.Key
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		idx := slices.Index(keys, k.Value)
		if idx < 0 {
			d.Errorf(k, "%s", UnknownKey(k.Value, keys))
			continue
		}
		if seen[k.Value] {
			d.Errorf(k, "key %q appears twice", k.Value)
			continue
		}
		seen[k.Value] = true
		f := fields[idx]
		fv := v.FieldByIndex(f.Index)
		before := d.Errs.Len()
		d.value(val, fv)
		if len(f.Enum) > 0 && d.Errs.Len() == before && fv.Kind() == reflect.String && !slices.Contains(f.Enum, fv.String()) {
			d.Errorf(resolve(val), "%s must be one of %s, got %q", f.Key, strings.Join(f.Enum, ", "), fv.String())
		}
	}
	for _, f := range fields {
		if f.Required && !seen[f.Key] {
			d.Errorf(n, "missing required key %q", f.Key)
		}
	}
}

// UnknownKey words the error for key, which is none of valid.
func UnknownKey(key string, valid []string) string {
	if s := Suggest(key, valid); s != "" {
		return fmt.Sprintf("unknown key %q, did you mean %q?", key, s)
	}
	sorted := slices.Clone(valid)
	slices.Sort(sorted)
	return fmt.Sprintf("unknown key %q (expected one of: %s)", key, strings.Join(sorted, ", "))
}

// Describe names what kind of YAML value n is, for error messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing (null)"
		case "!!str":
			return fmt.Sprintf("the string %q", Clip(n.Value))
		case "!!int":
			return fmt.Sprintf("the integer %s", n.Value)
		case "!!bool":
			return fmt.Sprintf("the boolean %s", n.Value)
		case "!!float":
			return fmt.Sprintf("the number %s", n.Value)
		}
		return fmt.Sprintf("%q", Clip(n.Value))
	}
	return "an unknown value"
}

// MaxQuote is the most runes of a value an error message quotes.
const MaxQuote = 60

// Clip shortens s to MaxQuote runes for an error message, so that a message
// never carries more of a file than a glance at it would show.
func Clip(s string) string {
	r := []rune(s)
	if len(r) <= MaxQuote {
		return s
	}
	return string(r[:MaxQuote]) + fmt.Sprintf("... (%d more characters)", len(r)-MaxQuote)
}

// Suggest returns the entry of valid closest to key when it is close enough
// to be a typo, else "".
func Suggest(key string, valid []string) string {
	best, bestD := "", -1
	lk := strings.ToLower(key)
	for _, v := range valid {
		if d := distance(lk, strings.ToLower(v)); bestD < 0 || d < bestD {
			best, bestD = v, d
		}
	}
	if bestD < 0 || bestD > min(3, max(1, len(key)/3)) {
		return ""
	}
	return best
}

// distance is the optimal string alignment distance (Levenshtein plus
// transpositions) between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1) // a transposition
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// Expanded counts the nodes under n with aliases followed, the way a decoder
// that expands them sees the tree, stopping once the count passes limit (it
// then returns limit+1). Each node is visited once: a "billion laughs" of a
// few lines costs a few steps to measure.
func Expanded(n *yaml.Node, limit int) int {
	return expanded(n, limit, map[*yaml.Node]int{})
}

func expanded(n *yaml.Node, limit int, memo map[*yaml.Node]int) int {
	// Only anchored nodes can be reached twice; the others need no memo.
	if n.Anchor != "" {
		if c, ok := memo[n]; ok {
			return c
		}
		memo[n] = limit + 1 // a node that contains itself counts as too many
	}
	c := 1
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		c = expanded(n.Alias, limit, memo)
	}
	for _, k := range n.Content {
		if c > limit {
			break
		}
		c += expanded(k, limit-c, memo)
	}
	c = min(c, limit+1)
	if n.Anchor != "" {
		memo[n] = c
	}
	return c
}
