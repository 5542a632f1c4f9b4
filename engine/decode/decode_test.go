package decode_test

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/decode"
	"github.com/scenario-runner/runner/engine/diag"
)

type Common struct {
	Timeout string `yaml:"timeout"`
	Retries int    `yaml:"retries"`
}

type Item struct {
	ID   string `yaml:"id" required:"true"`
	Size int    `yaml:"size"`
}

type Key string

// Upper decodes itself: a scalar, upper-cased.
type Upper string

func (u *Upper) DecodeYAML(d *decode.Decoder, n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return d.Errorf(n, "custom wants a scalar, got %s", decode.Describe(n))
	}
	*u = Upper(strings.ToUpper(n.Value))
	return nil
}

type Spec struct {
	Name     string            `yaml:"name" required:"true" doc:"what it is called"`
	Mode     string            `yaml:"mode" enum:"fast,slow"`
	Count    int               `yaml:"count"`
	Small    int32             `yaml:"small"`
	Ratio    float64           `yaml:"ratio"`
	On       bool              `yaml:"on"`
	Ptr      *int              `yaml:"ptr"`
	Item     *Item             `yaml:"item"`
	Tags     []string          `yaml:"tags"`
	Items    []Item            `yaml:"items"`
	Labels   map[string]string `yaml:"labels"`
	Keyed    map[Key]int       `yaml:"keyed"`
	Custom   Upper             `yaml:"custom"`
	Customs  []Upper           `yaml:"customs"`
	Any      any               `yaml:"any"`
	Node     yaml.Node         `yaml:"node"`
	Common   `yaml:",inline"`
	Skipped  string `yaml:"-"`
	Default  string
	internal string
}

func decodeSpec(t *testing.T, text string) (Spec, bool, error) {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		t.Fatalf("parse: %v", err)
	}
	var errs diag.List
	d := &decode.Decoder{Loc: diag.NewSource("s.yaml", []byte(text)), Errs: &errs}
	var s Spec
	ok := d.Decode(&root, &s)
	return s, ok, errs.Err()
}

func TestDecodeFillsEveryKindOfField(t *testing.T) {
	text := `
name: web
mode: slow
count: 0x10
small: -7
ratio: 3
on: true
ptr: 42
item: {id: a, size: 2}
tags: [x, "y"]
items:
  - id: i1
  - {id: i2, size: 5}
labels: {app: web, tier: "1"}
keyed: {k: 1}
custom: shout
customs: [a, b]
any: {a: [1, two]}
node: [1, 2]
timeout: 5s
retries: 3
default: d
`
	s, ok, err := decodeSpec(t, text)
	if err != nil || !ok {
		t.Fatalf("Decode = %v, %v", ok, err)
	}
	ptr := 42
	want := Spec{
		Name: "web", Mode: "slow", Count: 16, Small: -7, Ratio: 3, On: true, Ptr: &ptr,
		Item:    &Item{ID: "a", Size: 2},
		Tags:    []string{"x", "y"},
		Items:   []Item{{ID: "i1"}, {ID: "i2", Size: 5}},
		Labels:  map[string]string{"app": "web", "tier": "1"},
		Keyed:   map[Key]int{"k": 1},
		Custom:  "SHOUT",
		Customs: []Upper{"A", "B"},
		Any:     map[string]any{"a": []any{1, "two"}},
		Common:  Common{Timeout: "5s", Retries: 3},
		Default: "d",
	}
	node := s.Node
	s.Node = yaml.Node{}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Decode =\n%+v\nwant\n%+v", s, want)
	}
	if node.Kind != yaml.SequenceNode || len(node.Content) != 2 || node.Line != 19 || node.Column != 7 {
		t.Errorf("yaml.Node field = kind %v, %d items at %d:%d", node.Kind, len(node.Content), node.Line, node.Column)
	}
}

func TestDecodeAliasesAndNulls(t *testing.T) {
	s, ok, err := decodeSpec(t, "name: &n web\nitem: &i {id: a}\ntags: [*n]\nptr: ~\nany: ~\nlabels: {}\n")
	if err != nil || !ok {
		t.Fatalf("Decode = %v, %v", ok, err)
	}
	if s.Tags[0] != "web" || s.Item.ID != "a" {
		t.Errorf("aliases: tags %v, item %+v", s.Tags, s.Item)
	}
	if s.Ptr != nil || s.Any != nil {
		t.Errorf("null pointer / interface decoded as %v / %v, want nil", s.Ptr, s.Any)
	}
	if s.Labels == nil || len(s.Labels) != 0 {
		t.Errorf("empty mapping = %#v, want an empty map", s.Labels)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []string // every error, in order
	}{
		{"unknown key with a suggestion", "name: a\nnmae: b\n",
			[]string{`s.yaml:2:1: unknown key "nmae", did you mean "name"?`}},
		{"unknown key by transposition", "name: a\ntiemout: 1s\n",
			[]string{`s.yaml:2:1: unknown key "tiemout", did you mean "timeout"?`}},
		{"unknown key without a suggestion lists the keys sorted", "name: a\nzzzzzz: 1\n",
			[]string{`s.yaml:2:1: unknown key "zzzzzz" (expected one of: any, count, custom, customs, default, item, items, keyed, labels, mode, name, node, on, ptr, ratio, retries, small, tags, timeout)`}},
		{"unknown key inside a list item", "name: a\nitems:\n  - id: x\n    szie: 2\n",
			[]string{`s.yaml:4:5: unknown key "szie", did you mean "size"?`}},
		{"string given a list", "name: [a]\n", []string{`s.yaml:1:7: expected a string, got a list`}},
		{"string given null", "name: ~\n", []string{`s.yaml:1:7: expected a string, got nothing (null)`}},
		{"int given a string", "name: a\ncount: three\n", []string{`s.yaml:2:8: expected an integer, got the string "three"`}},
		{"int given a quoted number", "name: a\ncount: \"3\"\n", []string{`s.yaml:2:8: expected an integer, got the string "3"`}},
		{"int given a float", "name: a\ncount: 1.5\n", []string{`s.yaml:2:8: expected an integer, got the number 1.5`}},
		{"int32 out of range", "name: a\nsmall: 3000000000\n", []string{`s.yaml:2:8: the integer 3000000000 does not fit in int32`}},
		{"float given a bool", "name: a\nratio: true\n", []string{`s.yaml:2:8: expected a number, got the boolean true`}},
		{"bool given yes", "name: a\non: yes\n", []string{`s.yaml:2:5: expected true or false, got the string "yes"`}},
		{"bool given 1", "name: a\non: 1\n", []string{`s.yaml:2:5: expected true or false, got the integer 1`}},
		{"list given a scalar", "name: a\ntags: x\n", []string{`s.yaml:2:7: expected a list, got the string "x"`}},
		{"map given a list", "name: a\nlabels: [x]\n", []string{`s.yaml:2:9: expected a mapping, got a list`}},
		{"struct given a scalar", "name: a\nitem: 3\n", []string{`s.yaml:2:7: expected a mapping, got the integer 3`}},
		{"document not a mapping", "- a\n", []string{`s.yaml:1:1: expected a mapping, got a list`}},
		{"enum value not allowed", "name: a\nmode: medium\n", []string{`s.yaml:2:7: mode must be one of fast, slow, got "medium"`}},
		{"enum of the wrong type reports only the type", "name: a\nmode: [fast]\n", []string{`s.yaml:2:7: expected a string, got a list`}},
		{"required key missing", "count: 1\n", []string{`s.yaml:1:1: missing required key "name"`}},
		{"required key missing in a nested struct", "name: a\nitem:\n  size: 1\n", []string{`s.yaml:3:3: missing required key "id"`}},
		{"required key missing in list items", "name: a\nitems:\n  - size: 1\n  - id: ok\n  - {size: 2}\n",
			[]string{`s.yaml:3:5: missing required key "id"`, `s.yaml:5:5: missing required key "id"`}},
		{"key twice", "name: a\ncount: 1\ncount: 2\n", []string{`s.yaml:3:1: key "count" appears twice`}},
		{"inline key twice", "name: a\nretries: 1\nretries: 2\n", []string{`s.yaml:3:1: key "retries" appears twice`}},
		{"inline field wrong type", "name: a\nretries: many\n", []string{`s.yaml:2:10: expected an integer, got the string "many"`}},
		{"unmarshaler error", "name: a\ncustom: {x: 1}\n", []string{`s.yaml:2:9: custom wants a scalar, got a mapping`}},
		{"unmarshaler error in a list", "name: a\ncustoms: [a, [b]]\n", []string{`s.yaml:2:14: custom wants a scalar, got a list`}},
		{"a map's values are checked", "name: a\nkeyed: {a: 1, b: x}\n", []string{`s.yaml:2:18: expected an integer, got the string "x"`}},
		{"a pointer's target is checked", "name: a\nptr: x\n", []string{`s.yaml:2:6: expected an integer, got the string "x"`}},
		{"a key of yaml:\"-\" is unknown", "name: a\nskipped: x\n",
			[]string{`s.yaml:2:1: unknown key "skipped" (expected one of: any, count, custom, customs, default, item, items, keyed, labels, mode, name, node, on, ptr, ratio, retries, small, tags, timeout)`}},
		{
			"every error of the document is collected, in file order",
			"items:\n  - id: a\n    size: big\n  - sise: 1\nmode: medium\non: maybe\nnaem: x\ntags: {a: 1}\n",
			[]string{
				`s.yaml:1:1: missing required key "name"`,
				`s.yaml:3:11: expected an integer, got the string "big"`,
				`s.yaml:4:5: unknown key "sise", did you mean "size"?`,
				`s.yaml:4:5: missing required key "id"`,
				`s.yaml:5:7: mode must be one of fast, slow, got "medium"`,
				`s.yaml:6:5: expected true or false, got the string "maybe"`,
				`s.yaml:7:1: unknown key "naem", did you mean "name"?`,
				`s.yaml:8:7: expected a list, got a mapping`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok, err := decodeSpec(t, tc.text)
			if ok || err == nil {
				t.Fatalf("Decode = %v, %v; want errors", ok, err)
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// Decode's result covers only the errors of this call, not those already
// in the list.
func TestDecodeReportsOnlyItsOwnErrors(t *testing.T) {
	var errs diag.List
	src := diag.NewSource("s.yaml", []byte("x"))
	errs.Add(src.Errorf(1, 1, "earlier"))
	d := &decode.Decoder{Loc: src, Errs: &errs}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("id: a\n"), &n); err != nil {
		t.Fatal(err)
	}
	var it Item
	if !d.Decode(&n, &it) || it.ID != "a" {
		t.Errorf("Decode = %+v, want ok", it)
	}
	if errs.Len() != 1 {
		t.Errorf("Len() = %d, want 1", errs.Len())
	}
}

func TestDecodeUnsupportedTypePanics(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("1"), &n); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "unsupported field type uint8") {
			t.Errorf("recover() = %v, want a panic naming uint8", r)
		}
	}()
	var u uint8
	d := &decode.Decoder{Loc: diag.NewSource("s.yaml", nil), Errs: &diag.List{}}
	d.Decode(&n, &u)
}

func TestFields(t *testing.T) {
	fields := decode.Fields(reflect.TypeOf(Spec{}))
	byKey := map[string]decode.Field{}
	var keys []string
	for _, f := range fields {
		byKey[f.Key] = f
		keys = append(keys, f.Key)
	}
	if want := "name mode count small ratio on ptr item tags items labels keyed custom customs any node timeout retries default"; strings.Join(keys, " ") != want {
		t.Errorf("keys = %v, want %s", keys, want)
	}
	for _, tc := range []struct {
		key      string
		index    []int
		required bool
		enum     []string
		doc      string
	}{
		{"name", []int{0}, true, nil, "what it is called"},
		{"mode", []int{1}, false, []string{"fast", "slow"}, ""},
		{"timeout", []int{16, 0}, false, nil, ""},
		{"retries", []int{16, 1}, false, nil, ""},
		{"default", []int{18}, false, nil, ""},
	} {
		f, ok := byKey[tc.key]
		if !ok {
			t.Errorf("no field %q", tc.key)
			continue
		}
		if !reflect.DeepEqual(f.Index, tc.index) || f.Required != tc.required || !reflect.DeepEqual(f.Enum, tc.enum) || f.Doc != tc.doc {
			t.Errorf("%s = %+v, want index %v required %v enum %v doc %q", tc.key, f, tc.index, tc.required, tc.enum, tc.doc)
		}
	}
	if f := byKey["retries"]; f.Type != reflect.TypeOf(0) {
		t.Errorf("retries type = %v", f.Type)
	}
}

func TestSuggest(t *testing.T) {
	valid := []string{"name", "namespace", "timeout", "replicas", "waitFor", "condition", "labelSelector"}
	for _, tc := range []struct {
		key, want string
	}{
		{"name", "name"},
		{"nmae", "name"},          // a transposition is one edit
		{"naem", "name"},          // short key: only one edit allowed, so this needs transpositions
		{"nam", "name"},           // a deletion
		{"NAME", "name"},          // case does not count
		{"waitfor", "waitFor"},    // case does not count
		{"wiatFor", "waitFor"},    // transposition
		{"replcias", "replicas"},  // transposition
		{"rplicas", "replicas"},   // a deletion
		{"repliacs", "replicas"},  // transposition
		{"condtion", "condition"}, // a deletion
		{"conditoin", "condition"},
		{"labelSelectr", "labelSelector"},
		{"labelselectro", "labelSelector"},
		{"lblSelectr", "labelSelector"}, // three edits, a long key allows three
		{"lbSlectr", ""},                // four edits is too far
		{"nmspace", "namespace"},
		{"xyz", ""},
		{"image", ""},
	} {
		if got := decode.Suggest(tc.key, valid); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	if got := decode.Suggest("name", nil); got != "" {
		t.Errorf("Suggest with no valid keys = %q", got)
	}
	// On a tie the first valid key wins.
	if got := decode.Suggest("ab", []string{"ac", "ad"}); got != "ac" {
		t.Errorf("Suggest tie = %q, want ac", got)
	}
}

func TestUnknownKey(t *testing.T) {
	for _, tc := range []struct {
		key   string
		valid []string
		want  string
	}{
		{"imgae", []string{"name", "image"}, `unknown key "imgae", did you mean "image"?`},
		{"colour", []string{"size", "name", "kind"}, `unknown key "colour" (expected one of: kind, name, size)`},
		{"x", nil, `unknown key "x" (expected one of: )`},
	} {
		if got := decode.UnknownKey(tc.key, tc.valid); got != tc.want {
			t.Errorf("UnknownKey(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		text, want string
	}{
		{"{a: 1}", "a mapping"},
		{"[1]", "a list"},
		{"~", "nothing (null)"},
		{"null", "nothing (null)"},
		{"hello", `the string "hello"`},
		{`"12"`, `the string "12"`},
		{"12", "the integer 12"},
		{"0x1F", "the integer 0x1F"},
		{"true", "the boolean true"},
		{"1.5", "the number 1.5"},
		{"!!binary aGk=", `"aGk="`},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.text), &doc); err != nil {
			t.Fatalf("%s: %v", tc.text, err)
		}
		if got := decode.Describe(doc.Content[0]); got != tc.want {
			t.Errorf("Describe(%s) = %q, want %q", tc.text, got, tc.want)
		}
	}
	if got := decode.Describe(&yaml.Node{Kind: yaml.AliasNode}); got != "an unknown value" {
		t.Errorf("Describe(alias) = %q", got)
	}
}
