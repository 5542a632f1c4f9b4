package steps

import (
	"slices"
	"strings"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/manifest"
)

// What each kind asks of the API server (engine.Kind.Access), beside the
// code that asks it. The engine adds what cleanup and restore do with the
// objects a step creates or changes.

var (
	// applyVerbs: the LIST of what exists before applying (apply_before),
	// server-side apply (patch; create when the object is new), and the
	// get of an object's state before it is changed.
	applyVerbs  = []string{"create", "get", "list", "patch"}
	patchVerbs  = []string{"get", "list", "patch"}
	deleteVerbs = []string{"delete", "get", "list", "watch"}
	watchVerbs  = []string{"get", "list", "watch"}
	// podReadVerbs: exec and the pods metrics source find their pods by
	// name or selector.
	podReadVerbs = []string{"get", "list"}
)

func applyAccess(a engine.Action, vals eval.Values) []engine.Access {
	x := a.(*applyAction)
	return docsAccess(x.docs, x.forEach, vals, applyVerbs)
}

func deleteAccess(a engine.Action, vals eval.Values) []engine.Access {
	x := a.(*deleteAction)
	if x.target != nil {
		return []engine.Access{x.target.access(vals, x.forEach, "", deleteVerbs)}
	}
	return docsAccess(x.docs, x.forEach, vals, deleteVerbs)
}

func patchAccess(a engine.Action, vals eval.Values) []engine.Access {
	x := a.(*patchAction)
	return []engine.Access{x.target.access(vals, x.forEach, "", patchVerbs)}
}

// scaleAccess: the object is read before (for the restore), the count set
// through the scale subresource; the restore patches the object itself.
func scaleAccess(a engine.Action, vals eval.Values) []engine.Access {
	x := a.(*scaleAction)
	return []engine.Access{
		x.target.access(vals, forEach{}, "", []string{"get"}),
		x.target.access(vals, forEach{}, "scale", []string{"patch"}),
	}
}

func waitForAccess(a engine.Action, vals eval.Values) []engine.Access {
	return []engine.Access{a.(*waitForAction).target.access(vals, forEach{}, "", watchVerbs)}
}

// execAccess: the pods are read, then each command is a create on
// pods/exec (a POST for SPDY; the WebSocket upgrade is a GET that the API
// server authorizes as create too, since Kubernetes 1.31's
// AuthorizePodWebsocketUpgradeCreatePermission).
func execAccess(a engine.Action, vals eval.Values) []engine.Access {
	x := a.(*execAction)
	ns, any := namespaceOf(x.namespace, x.forEach, vals)
	pod := engine.Access{APIVersion: "v1", Kind: "Pod", Namespace: ns, AnyNamespace: any, Verbs: podReadVerbs}
	exec := pod
	exec.Subresource, exec.Verbs = "exec", []string{"create"}
	return []engine.Access{pod, exec}
}

func metricsAccess(a engine.Action, vals eval.Values) []engine.Access {
	return a.(*metricsAction).src.access(vals)
}

func measureAccess(a engine.Action, vals eval.Values) []engine.Access {
	return a.(*measureAction).m.access(vals)
}

func timeProbeAccess(a engine.Action, vals eval.Values) []engine.Access {
	return a.(*timeProbeAction).measure.access(vals)
}

func (m *measure) access(vals eval.Values) []engine.Access {
	if m == nil {
		return nil
	}
	return m.src.access(vals)
}

// access: the pods source lists its pods and reads each one's metrics
// through the pod proxy; a Prometheus is reached by URL, not through the
// API server.
func (s *boundSource) access(vals eval.Values) []engine.Access {
	if s == nil || !s.pods {
		return nil
	}
	ns, any := namespaceOf(s.ns, forEach{}, vals)
	pods := engine.Access{APIVersion: "v1", Kind: "Pod", Namespace: ns, AnyNamespace: any, Verbs: []string{"list"}}
	proxy := pods
	proxy.Subresource, proxy.Verbs = "proxy", []string{"get"}
	return []engine.Access{pods, proxy}
}

// namespaceOf evaluates a namespace template before the run ("": the
// plan's default): any is set when it is only known at run time.
func namespaceOf(t *eval.Template, each forEach, vals eval.Values) (ns string, any bool) {
	if t == nil {
		return "", false
	}
	var seen []string
	for _, v := range staticItems(each, vals) {
		s, ok := engine.StaticString(t, v)
		if !ok {
			return "", true
		}
		if !slices.Contains(seen, s) {
			seen = append(seen, s)
		}
	}
	if len(seen) != 1 {
		return "", true
	}
	return seen[0], false
}

// access is what a step with this target asks: verbs on its objects (or
// their subresource sub), in its namespace.
func (bt *boundTarget) access(vals eval.Values, each forEach, sub string, verbs []string) engine.Access {
	a := engine.Access{Subresource: sub, Verbs: verbs}
	var ok1, ok2, ok3 bool
	a.APIVersion, ok1 = engine.StaticString(bt.apiVersion, vals)
	a.Kind, ok2 = engine.StaticString(bt.kind, vals)
	a.Resource, ok3 = engine.StaticString(bt.resource, vals)
	if !ok1 || !ok2 || !ok3 {
		return engine.Access{Unknown: "the kind of object is only known at run time", Subresource: sub, Verbs: verbs}
	}
	if bt.allNamespaces {
		a.AnyNamespace = true
		return a
	}
	a.Namespace, a.AnyNamespace = namespaceOf(bt.namespace, each, vals)
	return a
}

// maxStaticItems bounds how many forEach elements are rendered to learn the
// kinds and namespaces a step acts on.
const maxStaticItems = 1000

// staticItems are the values of each forEach element when the list is
// known before the run (vals alone when there is no forEach); nil when it is
// not known.
func staticItems(each forEach, vals eval.Values) []eval.Values {
	its, err := each.items(vals)
	if err != nil {
		return nil
	}
	out := make([]eval.Values, 0, min(len(its), maxStaticItems))
	for i, it := range its {
		if i == maxStaticItems {
			break
		}
		out = append(out, it.vals)
	}
	return out
}

// docsAccess renders the manifests before the run to learn each object's
// kind and namespace; a document that cannot be rendered yet (it reads an
// output) gives what its literal apiVersion and kind say, in any namespace.
func docsAccess(docs []*manifest.Doc, each forEach, vals eval.Values, verbs []string) []engine.Access {
	var out []engine.Access
	add := func(a engine.Access) {
		if !slices.ContainsFunc(out, func(b engine.Access) bool {
			return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Namespace == b.Namespace && a.Name == b.Name && a.AnyNamespace == b.AnyNamespace && a.Unknown == b.Unknown
		}) {
			out = append(out, a)
		}
	}
	items := staticItems(each, vals)
	for _, d := range docs {
		rendered := len(items) > 0
		var objs []engine.Access
		for _, v := range items {
			a, ok := renderedAccess(d, v)
			if !ok {
				rendered = false
				break
			}
			a.Verbs = verbs
			objs = append(objs, a)
		}
		if rendered {
			for _, a := range objs {
				add(a)
			}
			continue
		}
		apiVersion, ok1 := d.Literal("apiVersion")
		kind, ok2 := d.Literal("kind")
		if !ok1 || !ok2 {
			add(engine.Access{Unknown: "the manifest's apiVersion or kind is only known at run time", Verbs: verbs})
			continue
		}
		add(engine.Access{APIVersion: apiVersion, Kind: kind, AnyNamespace: true, Verbs: verbs})
	}
	return out
}

// renderedAccess renders d with v: ok is false when the object's kind or
// namespace is only known at run time.
func renderedAccess(d *manifest.Doc, v eval.Values) (engine.Access, bool) {
	key, ok := engine.Static(v, func(v eval.Values) (string, error) {
		obj, err := d.Render(v)
		if err != nil {
			return "", err
		}
		name := ""
		if obj.GetKind() == "Namespace" && obj.GetAPIVersion() == "v1" {
			name = obj.GetName()
		}
		return strings.Join([]string{obj.GetAPIVersion(), obj.GetKind(), obj.GetNamespace(), name}, "\x00"), nil
	})
	if !ok {
		return engine.Access{}, false
	}
	f := strings.Split(key, "\x00")
	return engine.Access{APIVersion: f[0], Kind: f[1], Namespace: f[2], Name: f[3]}, true
}
