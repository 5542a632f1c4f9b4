package rbac

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// DefaultName names the roles and bindings runner rbac prints.
const DefaultName = "runner"

// Options say how the policy becomes objects.
type Options struct {
	// Name of the ClusterRole, the Roles and the bindings (DefaultName
	// when empty).
	Name string
	// ServiceAccount, when set, is bound to every role.
	ServiceAccount *ServiceAccount
	// Labels go on every object (runner job marks what it creates).
	Labels map[string]string
}

// ServiceAccount names a ServiceAccount: namespace and name.
type ServiceAccount struct{ Namespace, Name string }

// ParseServiceAccount reads NS/NAME.
func ParseServiceAccount(s string) (*ServiceAccount, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("service account %q: expected NAMESPACE/NAME", s)
	}
	return &ServiceAccount{Namespace: ns, Name: name}, nil
}

const rbacAPI = "rbac.authorization.k8s.io/v1"

// Objects are the ClusterRole (when any rule is cluster-wide), one Role per
// namespace, and with o.ServiceAccount their bindings, in a stable order.
func (p *Policy) Objects(o Options) []*unstructured.Unstructured {
	name := o.Name
	if name == "" {
		name = DefaultName
	}
	var out []*unstructured.Unstructured
	role := func(kind, ns string) {
		var rules []any
		for _, r := range p.Rules {
			if r.Namespace == ns {
				rules = append(rules, r.object())
			}
		}
		if len(rules) == 0 {
			return
		}
		out = append(out, object(kind, ns, name, o.Labels, map[string]any{"rules": rules}))
		if o.ServiceAccount == nil {
			return
		}
		out = append(out, object(kind+"Binding", ns, name, o.Labels, map[string]any{
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "namespace": o.ServiceAccount.Namespace, "name": o.ServiceAccount.Name}},
		}))
	}
	role("ClusterRole", "")
	for _, ns := range p.Namespaces() {
		role("Role", ns)
	}
	return out
}

func object(kind, ns, name string, labels map[string]string, fields map[string]any) *unstructured.Unstructured {
	md := map[string]any{"name": name}
	if ns != "" {
		md["namespace"] = ns
	}
	if len(labels) > 0 {
		l := map[string]any{}
		for k, v := range labels {
			l[k] = v
		}
		md["labels"] = l
	}
	obj := map[string]any{"apiVersion": rbacAPI, "kind": kind, "metadata": md}
	for k, v := range fields {
		obj[k] = v
	}
	return &unstructured.Unstructured{Object: obj}
}

func (r Rule) object() map[string]any {
	verbs := make([]any, len(r.Verbs))
	for i, v := range r.Verbs {
		verbs[i] = v
	}
	return map[string]any{"apiGroups": []any{r.Group}, "resources": []any{r.Resource}, "verbs": verbs}
}

// YAML writes Objects as YAML documents, each rule under a comment naming
// the steps that need it; header comments go first.
func (p *Policy) YAML(o Options, header ...string) ([]byte, error) {
	var buf bytes.Buffer
	for _, h := range header {
		fmt.Fprintf(&buf, "# %s\n", h)
	}
	if len(p.Unknown) > 0 {
		buf.WriteString("# Not derived: known only at run time (grant these by hand):\n")
		for _, u := range p.Unknown {
			fmt.Fprintf(&buf, "#   %s\n", u)
		}
	}
	for i, obj := range p.Objects(o) {
		var doc yaml.Node
		if err := doc.Encode(obj.Object); err != nil {
			return nil, fmt.Errorf("encoding %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		p.comment(&doc, obj.GetNamespace())
		if i > 0 {
			buf.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return nil, err
		}
		enc.Close()
	}
	return buf.Bytes(), nil
}

// comment puts each rule's needs above it in a role's YAML.
func (p *Policy) comment(doc *yaml.Node, ns string) {
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "rules" {
			continue
		}
		k := 0
		for _, r := range p.Rules {
			if r.Namespace != ns {
				continue
			}
			item := doc.Content[i+1].Content[k]
			item.HeadComment = strings.Join(r.Needs, "\n")
			k++
		}
	}
}
