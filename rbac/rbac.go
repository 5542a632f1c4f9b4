package rbac

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/scenario-runner/runner/engine"
)

// Rule is one RBAC rule: verbs on one resource (or subresource) of one API
// group, in one namespace (a Role's rule) or cluster-wide (a ClusterRole's).
type Rule struct {
	// Namespace of the Role holding the rule; "" for the ClusterRole.
	Namespace string
	Group     string
	// Resource, with its subresource after a slash (pods/exec).
	Resource string
	Verbs    []string
	// Needs are the steps that need the rule, "file:line step", with what
	// runner does for them when it is not the step's own request
	// ("(cleanup)").
	Needs []string
	// byVerb are, for each verb, the needs that ask for it.
	byVerb map[string][]string
}

// NeededFor are the steps that need verb of the rule (all of Needs when
// the rule does not say).
func (r Rule) NeededFor(verb string) []string {
	if n, ok := r.byVerb[verb]; ok {
		return n
	}
	return r.Needs
}

// String is the rule as a person reads it: "list volumes.longhorn.io in
// namespace longhorn-system".
func (r Rule) String() string {
	return fmt.Sprintf("%s %s %s", strings.Join(r.Verbs, ","), r.What(), r.Where())
}

// What is the resource and group, as kubectl names it (volumes.longhorn.io).
func (r Rule) What() string {
	if r.Group == "" {
		return r.Resource
	}
	res, sub, found := strings.Cut(r.Resource, "/")
	if found {
		return res + "." + r.Group + "/" + sub
	}
	return r.Resource + "." + r.Group
}

// Where is "in namespace NS" or "in every namespace" / "cluster-wide".
func (r Rule) Where() string {
	if r.Namespace != "" {
		return "in namespace " + r.Namespace
	}
	return "cluster-wide"
}

// Policy is the RBAC a set of plans needs.
type Policy struct {
	// Rules sorted by namespace (the ClusterRole's first), group, resource.
	Rules []Rule
	// Unknown are needs runner cannot turn into rules before the run:
	// "file:line step: why".
	Unknown []string
}

// Namespaces lists the namespaces that have a Role, sorted.
func (p *Policy) Namespaces() []string {
	var out []string
	for _, r := range p.Rules {
		if r.Namespace != "" && !slices.Contains(out, r.Namespace) {
			out = append(out, r.Namespace)
		}
	}
	return out
}

// Derive turns what plans need (engine.Plan.Needs with reg's kinds) into
// rules. Objects of a namespaced kind go into a Role of their namespace
// when it is known before the run and no plan creates it; else (every
// namespace, a namespace known only at run time, one the plan creates)
// into the ClusterRole, as do cluster-scoped kinds.
func Derive(plans []*engine.Plan, reg *engine.Registry, m Mapper) (*Policy, error) {
	var needs []engine.Need
	for _, p := range plans {
		needs = append(needs, p.Needs(reg)...)
	}
	return fromNeeds(needs, m)
}

// CleanupRole is what runner cleanup --all needs to find and undo what the
// plans create or change, in every namespace and run: list, get, watch,
// delete and patch (restore) on each of those kinds, cluster-wide.
func CleanupRole(plans []*engine.Plan, reg *engine.Registry, m Mapper) (*Policy, error) {
	var needs []engine.Need
	for _, p := range plans {
		for _, n := range p.Needs(reg) {
			if n.Subresource != "" || !slices.ContainsFunc(n.Verbs, func(v string) bool { return v == "create" || v == "patch" }) {
				continue
			}
			n.Verbs, n.Why = []string{"delete", "get", "list", "patch", "watch"}, "runner cleanup --all"
			n.Namespace, n.AnyNamespace = "", true
			needs = append(needs, n)
		}
	}
	return fromNeeds(needs, m)
}

type ruleKey struct{ ns, group, resource string }

func fromNeeds(needs []engine.Need, m Mapper) (*Policy, error) {
	created := map[string]bool{} // namespaces the plans create
	for _, n := range needs {
		if n.Name != "" && slices.Contains(n.Verbs, "create") {
			created[n.Name] = true
		}
	}
	p := &Policy{}
	rules := map[ruleKey]*Rule{}
	whys := map[ruleKey]map[string][]string{}                // rule → step → whys ("": its own request)
	verbWhys := map[ruleKey]map[string]map[string][]string{} // rule → verb → step → whys
	var errs []error
	for _, n := range needs {
		where := n.Pos.File
		if n.Pos.Line > 0 {
			where = fmt.Sprintf("%s:%d", n.Pos.File, n.Pos.Line)
		}
		where += " " + n.Step
		if n.Unknown != "" {
			p.Unknown = append(p.Unknown, where+": "+n.Unknown)
			continue
		}
		res, err := m.Map(n.APIVersion, n.Kind, n.Resource)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		k := ruleKey{group: res.Group, resource: res.Resource}
		if n.Subresource != "" {
			k.resource += "/" + n.Subresource
		}
		if res.Namespaced && !n.AnyNamespace && !created[n.Namespace] {
			k.ns = n.Namespace
		}
		r := rules[k]
		if r == nil {
			r = &Rule{Namespace: k.ns, Group: k.group, Resource: k.resource}
			rules[k] = r
		}
		for _, v := range n.Verbs {
			if !slices.Contains(r.Verbs, v) {
				r.Verbs = append(r.Verbs, v)
			}
		}
		if whys[k] == nil {
			whys[k], verbWhys[k] = map[string][]string{}, map[string]map[string][]string{}
		}
		for _, v := range n.Verbs {
			if verbWhys[k][v] == nil {
				verbWhys[k][v] = map[string][]string{}
			}
			if !slices.Contains(verbWhys[k][v][where], n.Why) {
				verbWhys[k][v][where] = append(verbWhys[k][v][where], n.Why)
			}
		}
		if !slices.Contains(whys[k][where], n.Why) {
			whys[k][where] = append(whys[k][where], n.Why)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("cannot derive RBAC: %w", errors.Join(errs...))
	}
	for k, r := range rules {
		r.Needs = describeNeeds(whys[k])
		slices.Sort(r.Verbs)
		r.byVerb = map[string][]string{}
		for v, w := range verbWhys[k] {
			r.byVerb[v] = describeNeeds(w)
		}
		p.Rules = append(p.Rules, *r)
	}
	slices.SortFunc(p.Rules, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Group, b.Group), cmp.Compare(a.Resource, b.Resource))
	})
	slices.Sort(p.Unknown)
	p.Unknown = slices.Compact(p.Unknown)
	return p, nil
}

// describeNeeds writes each step with the whys of its need, sorted:
// "file:line step", "... (cleanup)", "... (and its cleanup, restore)".
func describeNeeds(whys map[string][]string) []string {
	var out []string
	for where, ws := range whys {
		ws = slices.Sorted(slices.Values(ws))
		switch {
		case ws[0] == "" && len(ws) > 1:
			where += " (and its " + strings.Join(ws[1:], ", ") + ")"
		case ws[0] != "":
			where += " (" + strings.Join(ws, ", ") + ")"
		}
		out = append(out, where)
	}
	slices.SortFunc(out, compareNeeds)
	return out
}

// compareNeeds sorts "file:line step" by file, then line as a number.
func compareNeeds(a, b string) int {
	fa, la := splitNeed(a)
	fb, lb := splitNeed(b)
	return cmp.Or(cmp.Compare(fa, fb), cmp.Compare(la, lb), cmp.Compare(a, b))
}

func splitNeed(s string) (string, int) {
	at, _, _ := strings.Cut(s, " ")
	i := strings.LastIndexByte(at, ':')
	if i < 0 {
		return at, 0
	}
	n := 0
	fmt.Sscanf(at[i+1:], "%d", &n)
	return at[:i], n
}
