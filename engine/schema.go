package engine

import (
	"encoding/json"
	"reflect"

	"github.com/scenario-runner/runner/engine/decode"
)

// SchemaID is the $id of the plan format's JSON Schema.
const SchemaID = "https://github.com/scenario-runner/runner/schemas/scenario.schema.json"

// JSONSchemaer is implemented by field types that describe themselves.
type JSONSchemaer interface {
	JSONSchema() map[string]any
}

const durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// JSONSchema implements JSONSchemaer.
func (Duration) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": durationPattern}
}

// JSONSchema implements JSONSchemaer.
func (Expr) JSONSchema() map[string]any {
	return map[string]any{"type": []string{"string", "number", "boolean"}, "description": "An expr-lang expression."}
}

// JSONSchema implements JSONSchemaer.
func (Text) JSONSchema() map[string]any {
	return map[string]any{"type": "string"}
}

// JSONSchema implements JSONSchemaer.
func (Flag) JSONSchema() map[string]any {
	return map[string]any{"type": "boolean"}
}

// JSONSchema implements JSONSchemaer.
func (IntOrExpr) JSONSchema() map[string]any {
	return map[string]any{"type": []string{"integer", "string"}, "description": "An integer or an expression yielding one."}
}

// Schema generates the JSON Schema (2020-12) of the plan format from the Go
// types of PlanSpec and of every step kind in reg. It is the source of
// schemas/scenario.schema.json; a test fails when the two drift apart.
func Schema(reg *Registry) ([]byte, error) {
	g := &schemaGen{}
	step := map[string]any{
		"type":                 "object",
		"additionalProperties": false,
	}
	props := map[string]any{}
	for _, f := range decode.Fields(typeOf[StepCommon]()) {
		props[f.Key] = g.field(f)
	}
	var oneOf []any
	for _, k := range reg.Kinds() {
		s := g.typ(reg.SpecType(k.Name), reflect.TypeOf(k.New()))
		s["description"] = k.Doc
		props[k.Name] = s
		oneOf = append(oneOf, map[string]any{"required": []string{k.Name}})
	}
	step["properties"] = props
	step["oneOf"] = oneOf
	plan := g.structSchema(typeOf[PlanSpec]())
	for _, k := range reg.besideKinds() {
		s := g.typ(reg.SpecType(k.Name), reflect.TypeOf(k.New()))
		s["description"] = k.Doc + " At plan level (beside steps), it runs along the plan's steps."
		plan["properties"].(map[string]any)[k.Name] = s
	}
	plan["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	plan["$id"] = SchemaID
	plan["title"] = "runner scenario plan (v1)"
	plan["$defs"] = map[string]any{"step": step}
	out, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

type schemaGen struct{}

var (
	nodeType      = typeOf[Node]()
	schemaerType  = typeOf[JSONSchemaer]()
	stepsListType = typeOf[[]Node]()
)

func (g *schemaGen) field(f decode.Field) map[string]any {
	var s map[string]any
	switch {
	case f.Type == stepsListType:
		s = map[string]any{"type": "array", "items": map[string]any{"$ref": "#/$defs/step"}}
	case f.Type == nodeType:
		s = map[string]any{"type": "object"}
	default:
		s = g.typ(f.Type, f.Type)
	}
	if f.Doc != "" {
		s["description"] = f.Doc
	}
	if len(f.Enum) > 0 {
		s["enum"] = f.Enum
	}
	return s
}

// typ describes t; orig is the type as declared (maybe a pointer), checked
// for JSONSchemaer.
func (g *schemaGen) typ(t, orig reflect.Type) map[string]any {
	for _, c := range []reflect.Type{orig, t, reflect.PointerTo(t)} {
		if c.Implements(schemaerType) && c.Kind() != reflect.Interface {
			v := reflect.New(c).Elem()
			if c.Kind() == reflect.Pointer {
				v = reflect.New(c.Elem())
			}
			return v.Interface().(JSONSchemaer).JSONSchema()
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typ(t.Elem(), t.Elem())
	case reflect.Struct:
		return g.structSchema(t)
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typ(t.Elem(), t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typ(t.Elem(), t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range decode.Fields(t) {
		props[f.Key] = g.field(f)
		if f.Required {
			required = append(required, f.Key)
		}
	}
	s := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	if t == typeOf[PlanSpec]() {
		props["name"].(map[string]any)["pattern"] = planName.String()
	}
	return s
}
