// Package rbac derives the least Kubernetes RBAC a set of plans needs from
// what their steps declare (engine.Kind.Access, through Plan.Needs), and
// asks the API server whether the current identity has it (Preflight).
//
// It names no step kind: a new kind brings its accesses with its own code.
// Rules are per API group and resource, in a Role where every object of
// the kind lives in namespaces known before the run, else in a ClusterRole;
// each carries the steps (file:line) that need it. The same rules feed
// runner rbac's YAML, the preflight's SelfSubjectAccessReviews and
// runner job's ServiceAccount.
package rbac
