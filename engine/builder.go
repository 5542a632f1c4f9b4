package engine

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/decode"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/files"
	"github.com/scenario-runner/runner/engine/manifest"
)

// Builder is what a step kind's Build sees at load time: the names in scope,
// the plan's defaults and directory, and helpers that compile expressions and
// record every error with its position.
type Builder struct {
	// Dir is the plan file's directory; file: paths are relative to it.
	Dir string
	// Root is the folder file: paths must resolve into (see engine/files).
	Root *files.Root
	// Manifests is what the plan's manifests may still hold together.
	Manifests *manifest.Budget
	Defaults  Defaults

	registry *Registry
	dec      *decode.Decoder
	scope    *eval.Scope
	here     diag.Pos
	// outputs are the names earlier steps bound.
	outputs map[string]bool
	// local are the steps of Local kinds, as refusals.
	local []*diag.Error
	// all are the steps built so far, nested ones included.
	all []*Step
	// planLevel is set while a Beside kind given at plan level is built.
	planLevel bool
}

// PlanLevel reports whether the spec being built was given at plan level
// (a Beside kind beside steps:) rather than as a step.
func (b *Builder) PlanLevel() bool { return b.planLevel }

// buildBeside builds a Beside kind given at plan level under key: its
// value is the kind's spec, in the scope after every step.
func (b *Builder) buildBeside(kind Kind, key, val *yaml.Node, loc diag.Locator) *Step {
	d := &decode.Decoder{Loc: loc, Errs: b.dec.Errs}
	spec := kind.New()
	if !d.Decode(val, spec) {
		return nil
	}
	saved := b.here
	b.here, b.planLevel = d.Pos(key), true
	action, err := spec.Build(b)
	b.here, b.planLevel = saved, false
	if err != nil {
		b.Add(err)
	}
	if action == nil {
		return nil
	}
	if _, ok := action.(Besider); !ok {
		b.Errorf(d.Pos(key), "engine: kind %s is marked Beside but its action does not implement Besider", kind.Name)
		return nil
	}
	name := kind.Name + " (plan)"
	if ds, ok := spec.(Describer); ok {
		name = ds.Describe() + " (plan)"
	}
	step := &Step{Name: name, Kind: kind.Name, Pos: d.Pos(key), Action: action}
	b.all = append(b.all, step)
	return step
}

// Here is the position of the step kind key being built, for errors that
// concern the step as a whole.
func (b *Builder) Here() diag.Pos { return b.here }

// Scope returns the names visible to the current step: vars and the outputs
// of the steps before it.
func (b *Builder) Scope() *eval.Scope { return b.scope }

// Decoder returns the decoder in use, for kinds that decode nodes themselves.
func (b *Builder) Decoder() *decode.Decoder { return b.dec }

// Errorf records an error at pos (Here() when pos is zero).
func (b *Builder) Errorf(pos diag.Pos, format string, args ...any) {
	if pos.IsZero() {
		pos = b.here
	}
	src := b.dec.Loc.Source()
	b.dec.Errs.Add(&diag.Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Source: sourceLine(src, pos)})
}

func sourceLine(src *diag.Source, pos diag.Pos) string {
	if src == nil || src.File != pos.File {
		return ""
	}
	return src.Line(pos.Line)
}

// Add records err (a *diag.Error or a list of them).
func (b *Builder) Add(err error) { b.dec.Errs.Add(err) }

// Failed reports whether any error has been recorded so far.
func (b *Builder) Failed() bool { return b.dec.Errs.Len() > 0 }

// Compile compiles e in scope; nil (with the error recorded) when it fails.
func (b *Builder) Compile(e Expr, scope *eval.Scope, want eval.Want) *eval.Program {
	if !e.IsSet() {
		return nil
	}
	p, err := eval.Compile(e.Src, e.Span, e.base, scope, want)
	if err != nil {
		b.Add(err)
		return nil
	}
	return p
}

// Template compiles the ${{ }} parts of t in scope.
func (b *Builder) Template(t Text, scope *eval.Scope) *eval.Template {
	if !t.IsSet() {
		return nil
	}
	tmpl, err := eval.CompileTemplate(t.Span, scope)
	if err != nil {
		b.Add(err)
		return nil
	}
	return tmpl
}

// Int compiles an IntOrExpr into an IntValue.
func (b *Builder) Int(i IntOrExpr, scope *eval.Scope) IntValue {
	if !i.IsSet() {
		return IntValue{}
	}
	if !i.Expr.IsSet() {
		return IntValue{literal: i.Literal, set: true}
	}
	return IntValue{prog: b.Compile(i.Expr, scope, eval.Int), set: true}
}

// IntValue is a compiled IntOrExpr.
type IntValue struct {
	literal int
	prog    *eval.Program
	set     bool
}

// IsSet reports whether the key was present.
func (v IntValue) IsSet() bool { return v.set }

// Eval returns the integer.
func (v IntValue) Eval(vals eval.Values) (int, error) {
	if v.prog == nil {
		return v.literal, nil
	}
	out, err := v.prog.Run(vals)
	if err != nil {
		return 0, err
	}
	return out.(int), nil
}

// Declare makes name visible to the steps that follow (an output).
// With rebind, name must be an earlier output, which it replaces from
// here on (written name! in the plan); without, it must be new.
func (b *Builder) Declare(name string, pos diag.Pos, rebind bool) {
	switch {
	case rebind && !b.outputs[name]:
		b.Errorf(pos, "output %q! re-binds an earlier output, but no earlier step has an output %q", name, name)
		return
	case !rebind && b.outputs[name]:
		b.Errorf(pos, "output %q is already bound by an earlier step: write %q! to re-bind it", name, name)
		return
	case !rebind && b.scope.Has(name):
		b.Errorf(pos, "output %q hides a variable of the same name", name)
		return
	}
	if b.outputs == nil {
		b.outputs = map[string]bool{}
	}
	b.outputs[name] = true
	b.scope = b.scope.With(name, nil)
}

// Steps decodes and builds a nested list of steps (a timeProbe's), with the
// current scope; outputs declared inside stay visible after it.
func (b *Builder) Steps(nodes []Node) []*Step {
	steps := make([]*Step, 0, len(nodes))
	for _, n := range nodes {
		if s := b.buildStep(n); s != nil {
			steps = append(steps, s)
		}
	}
	return steps
}

var commonKeys = func() []string {
	var keys []string
	for _, f := range decode.Fields(typeOf[StepCommon]()) {
		keys = append(keys, f.Key)
	}
	return keys
}()

// misplacedCommonKeys reports step keys (timeout, name, if, ...) written
// inside a kind's body, where chainsaw and kubectl users put them, unless
// the kind has a field of that name itself.
func (b *Builder) misplacedCommonKeys(d *decode.Decoder, kind string, body *yaml.Node, spec Spec) bool {
	t := reflect.TypeOf(spec).Elem()
	if body.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return false // a kind that is a list (assert) reports the shape itself
	}
	own := map[string]bool{}
	for _, f := range decode.Fields(t) {
		own[f.Key] = true
	}
	found := false
	for i := 0; i+1 < len(body.Content); i += 2 {
		k := body.Content[i]
		if slices.Contains(commonKeys, k.Value) && !own[k.Value] {
			d.Errorf(k, "%s is a step key: write it beside %s, not inside it", k.Value, kind)
			found = true
		}
	}
	return found
}

// expectation compiles an expectError.
func (b *Builder) expectation(e *ExpectError, at diag.Pos) *expectation {
	x := &expectation{message: e.Message, reason: e.Reason}
	if e.Pattern != "" {
		re, err := regexp.Compile(e.Pattern)
		if err != nil {
			b.Errorf(at, "expectError.pattern %q: %v", e.Pattern, err)
			return nil
		}
		x.pattern = re
	}
	return x
}

func (b *Builder) buildStep(n Node) *Step {
	d := &decode.Decoder{Loc: n.Loc, Errs: b.dec.Errs}
	node := n.Node
	if node.Kind != yaml.MappingNode {
		d.Errorf(node, "a step must be a mapping with one step kind key (%s), got %s", strings.Join(b.registry.Names(), ", "), decode.Describe(node))
		return nil
	}
	common := &yaml.Node{Kind: yaml.MappingNode, Line: node.Line, Column: node.Column}
	var kindKey, kindVal *yaml.Node
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if _, ok := b.registry.Lookup(k.Value); ok {
			if kindKey != nil {
				d.Errorf(k, "a step has exactly one step kind, but this one has %q and %q: split it into two steps", kindKey.Value, k.Value)
				continue
			}
			kindKey, kindVal = k, v
			continue
		}
		if !slices.Contains(commonKeys, k.Value) {
			d.Errorf(k, "%s", decode.UnknownKey(k.Value, append(append([]string{}, commonKeys...), b.registry.Names()...)))
			continue
		}
		common.Content = append(common.Content, k, v)
	}
	var c StepCommon
	d.Decode(common, &c)
	if kindKey == nil {
		d.Errorf(node, "a step needs one step kind key: one of %s", strings.Join(b.registry.Names(), ", "))
		return nil
	}
	kind, _ := b.registry.Lookup(kindKey.Value)
	spec := kind.New()
	if misplaced := b.misplacedCommonKeys(d, kindKey.Value, kindVal, spec); misplaced {
		return nil
	}
	if !d.Decode(kindVal, spec) {
		return nil
	}
	var cond *eval.Program
	if c.If.IsSet() {
		cond = b.Compile(c.If, b.scope, eval.Bool)
	}
	var expect *expectation
	if c.ExpectError != nil {
		if !kind.Fallible {
			d.Errorf(kindKey, "expectError is for steps that make requests the API server can refuse (%s), not %s", strings.Join(b.registry.fallible(), ", "), kind.Name)
		} else {
			expect = b.expectation(c.ExpectError, d.Pos(kindKey))
		}
	}
	saved := b.here
	b.here = d.Pos(kindKey)
	action, err := spec.Build(b)
	b.here = saved
	if err != nil {
		b.Add(err)
	}
	if action == nil {
		return nil
	}
	name := c.Name
	if name == "" {
		name = kind.Name
		if ds, ok := spec.(Describer); ok {
			name = ds.Describe()
		}
	}
	if kind.Local {
		at := d.Pos(kindKey)
		b.local = append(b.local, &diag.Error{Pos: at, Source: sourceLine(d.Loc.Source(), at),
			Msg: fmt.Sprintf("this %s step runs a program on this machine: runner runs it only with --allow-commands (a plan may come from a pull request); runner validate and --dry-run never run it", kind.Name)})
	}
	step := &Step{Name: name, Kind: kind.Name, Pos: d.Pos(kindKey), Timeout: c.Timeout.Duration, Action: action, If: cond, Expect: expect, Collect: c.Collect, Local: kind.Local}
	b.all = append(b.all, step)
	return step
}
