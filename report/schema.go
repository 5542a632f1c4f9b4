package report

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/scenario-runner/runner/result"
)

// Schema generates the JSON Schema (2020-12) of report.json from the Go
// types of this package: every struct becomes a $defs entry; fields
// without omitempty are required; `doc` tags become descriptions and
// `enum` tags (comma-separated) enumerations. It is the source of
// schemas/report.schema.json. details maps each step kind that adds a
// result detail to its Go type (result.Registry.Details): a step's detail
// must match its kind's $defs entry <kind>Detail.
func Schema(details map[string]reflect.Type) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.structSchema(reflect.TypeFor[Report]())
	var perKind []any
	for _, kind := range slices.Sorted(maps.Keys(details)) {
		t := details[kind]
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		name := kind + "Detail"
		g.defs[name] = g.structSchema(t)
		perKind = append(perKind, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"kind": map[string]any{"const": kind}}, "required": []string{"kind"}},
			"then": map[string]any{"properties": map[string]any{"detail": map[string]any{"$ref": "#/$defs/" + name}}},
		})
	}
	if len(perKind) > 0 {
		g.defs["step"].(map[string]any)["allOf"] = perKind
	}
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "runner run report (" + SchemaVersion + ")"
	root["description"] = "report.json, written by `runner --report-dir DIR`: the results of every plan of one invocation."
	root["$defs"] = g.defs
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

type schemaGen struct{ defs map[string]any }

var outcomes = []string{
	string(result.Passed), string(result.Failed), string(result.TimedOut),
	string(result.Interrupted), string(result.Skipped),
}

func (g *schemaGen) typ(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeFor[time.Time]():
		return map[string]any{"type": "string", "format": "date-time"}
	case reflect.TypeFor[result.Outcome]():
		return map[string]any{"$ref": "#/$defs/outcome"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typ(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typ(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typ(t.Elem())}
	case reflect.Interface:
		return map[string]any{"description": "Any JSON value."}
	case reflect.Struct:
		name := defName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // recursion guard
			g.defs[name] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	panic("report schema: unsupported type " + t.String())
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	if _, ok := g.defs["outcome"]; !ok {
		g.defs["outcome"] = map[string]any{"type": "string", "enum": outcomes}
	}
	props := map[string]any{}
	required := []string{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		s := g.typ(f.Type)
		if doc := f.Tag.Get("doc"); doc != "" {
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"allOf": []any{s}}
			}
			s["description"] = doc
		}
		if enum := f.Tag.Get("enum"); enum != "" {
			s["enum"] = strings.Split(enum, ",")
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	return map[string]any{
		"type":                 "object",
		"properties":           props,
		"required":             required,
		"additionalProperties": false,
	}
}

func defName(t reflect.Type) string {
	r := []rune(t.Name())
	r[0] = unicode.ToLower(r[0])
	return string(r)
}
