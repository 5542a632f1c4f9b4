package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/manifest"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// PatchSpec patches existing objects: one by name or those a selector
// matches, once per forEach element, with a JSON merge patch (RFC 7386), a
// JSON patch (RFC 6902, whose remove deletes one key, e.g. a Longhorn
// attachment ticket) or a strategic merge patch (built-in kinds). Strings
// in the patch may embed ${{ expr }}.
type PatchSpec struct {
	Target    `yaml:",inline"`
	ForEach   engine.Expr            `yaml:"forEach" doc:"An expression yielding a list; the patch is sent once per element (target and patch may use it)."`
	As        string                 `yaml:"as" doc:"Name of the forEach element in expressions (default item)."`
	Merge     engine.Node            `yaml:"merge" doc:"A JSON merge patch (RFC 7386) as YAML: maps merge, lists are replaced, null removes a key."`
	JSON      engine.NodeList        `yaml:"json" doc:"A JSON patch (RFC 6902): a list of {op, path, value, from}; op is add, remove, replace, move, copy or test."`
	Strategic engine.Node            `yaml:"strategic" doc:"A strategic merge patch (built-in kinds only: lists merge by their keys, e.g. a container by name)."`
	Restore   *bool                  `yaml:"restore" doc:"Put back, at cleanup, the fields this patch changed (default true)."`
	Outputs   map[string]engine.Expr `yaml:"outputs" doc:"Names bound for later steps, from expressions over objects (the patched objects as the server returned them)."`
}

// Describe implements engine.Describer.
func (s *PatchSpec) Describe() string { return "patch " + s.Target.describe() }

type patchAction struct {
	target  *boundTarget
	forEach forEach
	body    *manifest.Doc
	typ     types.PatchType
	restore bool
	outputs outputs
}

// jsonOps are the operations of RFC 6902.
var jsonOps = []string{"add", "remove", "replace", "move", "copy", "test"}

// Build implements engine.Spec.
func (s *PatchSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &patchAction{restore: s.Restore == nil || *s.Restore}
	var scope *eval.Scope
	a.forEach, scope = buildForEach(b, s.ForEach, s.As)
	var body engine.Node
	n := 0
	for _, c := range []struct {
		node engine.Node
		typ  types.PatchType
	}{{s.Merge, types.MergePatchType}, {s.JSON.Node, types.JSONPatchType}, {s.Strategic, types.StrategicMergePatchType}} {
		if c.node.Node != nil {
			body, a.typ = c.node, c.typ
			n++
		}
	}
	switch {
	case n == 0:
		b.Errorf(b.Here(), "patch needs one of merge, json or strategic")
		return a, nil
	case n > 1:
		b.Errorf(b.Here(), "patch takes one of merge, json or strategic, not several")
		return a, nil
	}
	switch {
	case a.typ == types.JSONPatchType && body.Node.Kind != yaml.SequenceNode:
		b.Errorf(body.Pos(), "json is a list of operations such as {op: remove, path: /spec/attachmentTickets/ui}")
	case a.typ == types.JSONPatchType:
		checkJSONPatch(b, body)
	case body.Node.Kind != yaml.MappingNode:
		b.Errorf(body.Pos(), "a merge or strategic patch is a mapping of the fields to change")
	}
	d, err := manifest.CompileValue(body.Node, body.Loc, scope)
	b.Add(err)
	a.body = d
	a.target = s.Target.build(b, scope, false)
	if !s.Name.IsSet() && !s.LabelSelector.IsSet() && !s.FieldSelector.IsSet() {
		b.Errorf(b.Here(), "patch needs name, labelSelector or fieldSelector: patching every object of a kind is refused")
	}
	a.outputs = buildOutputs(b, s.Outputs)
	return a, nil
}

// checkJSONPatch checks each operation's shape at load time.
func checkJSONPatch(b *engine.Builder, body engine.Node) {
	for _, op := range body.Node.Content {
		if op.Kind != yaml.MappingNode {
			b.Errorf(engine.Node{Node: op, Loc: body.Loc}.Pos(), "a JSON patch operation is a mapping {op, path, ...}")
			continue
		}
		keys := map[string]*yaml.Node{}
		for i := 0; i+1 < len(op.Content); i += 2 {
			keys[op.Content[i].Value] = op.Content[i+1]
		}
		at := engine.Node{Node: op, Loc: body.Loc}.Pos()
		o := keys["op"]
		switch {
		case o == nil:
			b.Errorf(at, "JSON patch operation without op (one of %s)", strings.Join(jsonOps, ", "))
			continue
		case !slices.Contains(jsonOps, o.Value):
			b.Errorf(engine.Node{Node: o, Loc: body.Loc}.Pos(), "unknown JSON patch op %q: one of %s", o.Value, strings.Join(jsonOps, ", "))
			continue
		}
		if p := keys["path"]; p == nil || !strings.HasPrefix(p.Value, "/") {
			b.Errorf(at, "JSON patch %s needs a path starting with /, e.g. /metadata/labels/app", o.Value)
		}
		if _, has := keys["value"]; !has && (o.Value == "add" || o.Value == "replace" || o.Value == "test") {
			b.Errorf(at, "JSON patch %s needs a value", o.Value)
		}
		if _, has := keys["from"]; !has && (o.Value == "move" || o.Value == "copy") {
			b.Errorf(at, "JSON patch %s needs from", o.Value)
		}
	}
}

// PatchDetail is a patch step's result.
type PatchDetail struct {
	Patched int `json:"patched" doc:"Patches the server accepted."`
}

// Summary implements result.Detail.
func (d *PatchDetail) Summary() string { return fmt.Sprintf("%d patched", d.Patched) }

// Properties implements result.Detail.
func (d *PatchDetail) Properties() []result.Property {
	return []result.Property{{Name: "patched", Value: strconv.Itoa(d.Patched)}}
}

// Run implements engine.Action.
func (a *patchAction) Run(ctx context.Context, env *engine.Env) error {
	items, err := a.forEach.items(env.Values())
	if err != nil {
		return err
	}
	res := &PatchDetail{}
	env.Result.Detail = res
	var patched []any
	for _, it := range items {
		v := it.vals
		t, err := a.target.resolveWith(ctx, env, v)
		if err != nil {
			return err
		}
		env.Watch(t.selection())
		body, err := a.body.Value(v)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding the patch: %w", err)
		}
		paths, err := patchPaths(a.typ, body)
		if err != nil {
			return err
		}
		objs, err := t.objects(ctx, env)
		if err != nil {
			return err
		}
		for _, obj := range objs {
			out, err := a.patchOne(ctx, env, t, obj, raw, paths)
			if err != nil {
				return err
			}
			res.Patched++
			patched = append(patched, out.Object)
			env.Progress(res.Patched, res.Patched, "patched", 0) // the total is known only at the end
		}
	}
	return a.outputs.set(env, patched)
}

func (a *patchAction) patchOne(ctx context.Context, env *engine.Env, t resolvedTarget, obj *unstructured.Unstructured, raw []byte, paths [][]string) (*unstructured.Unstructured, error) {
	ref := kube.Ref(t.GVR, t.Mapping.GroupVersionKind.Kind, obj.GetNamespace(), obj.GetName())
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if env.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	known := env.Recorder.Known(ref)
	var before map[string]any
	if !known {
		before = obj.Object // as listed just before the patch
	}
	paths, err := writeRecord(ctx, env, ref, before, paths, a.restore, nil)
	if err != nil {
		return nil, err
	}
	out, err := env.Cluster.Dynamic().Resource(t.GVR).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), a.typ, raw, opts)
	if err != nil {
		return nil, fmt.Errorf("patching %s: %w", ref, err)
	}
	if !env.DryRun {
		recordChange(env, ref, false, before, paths, a.restore)
	}
	return out, nil
}

// patchPaths are the fields a patch sets, for the restore: a merge or
// strategic patch's leaves, a JSON patch's paths (a path into a list
// restores the whole list).
func patchPaths(typ types.PatchType, body any) ([][]string, error) {
	if typ != types.JSONPatchType {
		m, _ := body.(map[string]any)
		var out [][]string
		for _, p := range engine.LeafPaths(m) {
			if !strings.HasPrefix(p[len(p)-1], "$") { // strategic directives
				out = append(out, p)
			}
		}
		return out, nil
	}
	ops, _ := body.([]any)
	var out [][]string
	for _, o := range ops {
		op, _ := o.(map[string]any)
		for _, key := range []string{"path", "from"} {
			ptr, ok := op[key].(string)
			if !ok {
				continue
			}
			if key == "from" && op["op"] != "move" {
				continue
			}
			out = append(out, pointerPath(ptr))
		}
	}
	return out, nil
}

// pointerPath splits a JSON pointer (RFC 6901) into keys, stopping at the
// first list index.
func pointerPath(ptr string) []string {
	var out []string
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(seg); err == nil || seg == "-" {
			break
		}
		out = append(out, seg)
	}
	return out
}
