package engine

import (
	"maps"
	"slices"
	"strings"

	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
)

// Access is one kind of API request a step makes: the verbs it uses on the
// objects of one kind (or subresource) in one namespace. Step kinds declare
// theirs through Kind.Access; package rbac turns a plan's accesses into
// Kubernetes RBAC rules and the preflight asks the API server about each.
type Access struct {
	// The objects, as the plan names them: APIVersion and Kind, or
	// Resource ("pods", "volumes.longhorn.io"). All empty when the kind
	// is only known at run time (then Unknown says why).
	APIVersion, Kind, Resource string
	// Name of the object, set for Namespaces a step creates: rules for
	// objects inside them cannot be a Role made before the run.
	Name string
	// Subresource, e.g. "scale", "exec", "proxy", "log".
	Subresource string
	// Namespace of the objects: for namespaced kinds the one the step acts
	// in ("": the plan's default namespace); ignored for cluster-scoped
	// kinds.
	Namespace string
	// AnyNamespace: the step acts in every namespace (allNamespaces), or
	// in one only known at run time (an output, a forEach element, the
	// run's id).
	AnyNamespace bool
	Verbs        []string
	// Unknown, when set, says why the objects cannot be known before the
	// run (e.g. their kind comes from an earlier step's output).
	Unknown string
	// Why is what needs it, e.g. "cleanup" or "collect"; empty for the
	// step's own requests. Set by the engine.
	Why string
}

// Need is an access with the step that needs it.
type Need struct {
	Access
	Step string // the step's name
	Pos  diag.Pos
}

// Needs lists everything a run of p may ask of the API server, resolved
// with p's variables: each step's own requests (Kind.Access, nested steps
// included), and what the engine does beyond them: cleanup deletes what
// steps create and waits for it to be gone, restores what they change,
// and collect reads events and the failed step's objects. Discovery is
// not listed: every authenticated identity may read it (the
// system:discovery role).
func (p *Plan) Needs(reg *Registry) []Need {
	var out []Need
	nss := map[string]bool{}
	for _, s := range p.All {
		kind, ok := reg.Lookup(s.Kind)
		if !ok || kind.Access == nil {
			continue
		}
		for _, a := range kind.Access(s.Action, p.StaticValues()) {
			if a.Namespace == "" && !a.AnyNamespace {
				a.Namespace = p.Defaults.Namespace
			}
			out = append(out, Need{Access: a, Step: s.Name, Pos: s.Pos})
			if !a.AnyNamespace && a.Namespace != "" && a.Unknown == "" {
				nss[a.Namespace] = true
			}
			out = append(out, engineNeeds(a, s)...)
		}
	}
	out = append(out, p.collectNeeds(slices.Sorted(maps.Keys(nss)))...)
	return out
}

// engineNeeds is what the engine does beyond a step's own request a:
// cleanup deletes what it creates (and lists and watches until it is
// gone), restore reads and patches back what it changes.
func engineNeeds(a Access, s *Step) []Need {
	var out []Need
	add := func(why string, verbs ...string) {
		b := a
		b.Verbs, b.Why, b.Subresource = verbs, why, ""
		out = append(out, Need{Access: b, Step: s.Name, Pos: s.Pos})
	}
	// A create on a subresource (pods/exec) makes no object to clean up.
	if slices.Contains(a.Verbs, "create") && a.Subresource == "" {
		add("cleanup", "delete", "get", "list", "watch")
	}
	// Restore patches the object itself back (a scale's spec.replicas too).
	if slices.Contains(a.Verbs, "patch") || slices.Contains(a.Verbs, "update") {
		add("restore", "get", "patch")
	}
	return out
}

// collectNeeds is what collect reads when a step fails: events in the
// namespaces the plan acts in, the logs and kinds the plan's collect
// names.
func (p *Plan) collectNeeds(namespaces []string) []Need {
	var out []Need
	at := func(spec *CollectSpec, step, why string, pos diag.Pos) {
		if spec == nil {
			return
		}
		need := func(a Access, what string) Need {
			n := Need{Access: a, Step: step, Pos: pos}
			n.Why = strings.TrimPrefix(why+" "+what, " ")
			if why == "" {
				n.Step = what
			}
			return n
		}
		for _, l := range spec.PodLogs {
			ns := l.Namespace
			if ns == "" {
				ns = p.Defaults.Namespace
			}
			out = append(out,
				need(Access{APIVersion: "v1", Kind: "Pod", Namespace: ns, Verbs: []string{"list"}}, "collect: podLogs"),
				need(Access{APIVersion: "v1", Kind: "Pod", Subresource: "log", Namespace: ns, Verbs: []string{"get"}}, "collect: podLogs"))
		}
		for _, r := range spec.Resources {
			a := Access{APIVersion: r.APIVersion, Kind: r.Kind, Resource: r.Resource, Namespace: r.Namespace, AnyNamespace: r.Namespace == "", Verbs: []string{"get", "list"}}
			out = append(out, need(a, "collect: resources"))
		}
	}
	at(p.Collect, "", "", diag.Pos{File: p.File})
	for _, s := range p.All {
		at(s.Collect, s.Name, "its", s.Pos)
	}
	if p.Collect == nil || p.Collect.Events == nil || *p.Collect.Events {
		for _, ns := range namespaces {
			out = append(out, Need{Access: Access{APIVersion: "v1", Kind: "Event", Namespace: ns, Verbs: []string{"list"}}, Step: "collect: events of the namespaces the plan acts in", Pos: diag.Pos{File: p.File}})
		}
	}
	return out
}

// Stand-ins for what only a run knows. A value computed from the run id
// differs between staticRunA and staticRunB; one computed from an output
// holds unknownOutput (or fails to compute: an output used as a map or a
// number).
const (
	staticRunA    = "runid0a"
	staticRunB    = "runid0b"
	unknownOutput = "\x00output\x00"
)

// StaticValues are the values expressions see before a run: the plan's
// variables, and stand-ins for the run id and the steps' outputs.
func (p *Plan) StaticValues() eval.Values {
	vals := p.Vars.With(RunIDVar, staticRunA)
	for _, o := range p.Outputs {
		vals[o] = unknownOutput
	}
	return vals
}

// StaticString evaluates t with vars (StaticValues, maybe with a forEach
// element): ok is false when the value is only known at run time (it reads
// an output or the run's id).
func StaticString(t *eval.Template, vars eval.Values) (string, bool) {
	if t == nil {
		return "", true
	}
	return Static(vars, t.String)
}

// Static computes f over vars before a run, twice with two stand-in run
// ids: ok is false when f fails (it reads an output or a forEach element
// vars lack) or depends on the run's id.
func Static(vars eval.Values, f func(eval.Values) (string, error)) (string, bool) {
	a, err := f(vars.With(RunIDVar, staticRunA))
	if err != nil {
		return "", false
	}
	b, err := f(vars.With(RunIDVar, staticRunB))
	if err != nil || a != b || strings.Contains(a, staticRunA) || strings.Contains(a, unknownOutput) {
		return "", false
	}
	return a, true
}
