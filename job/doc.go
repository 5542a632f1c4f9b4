// Package job builds the Kubernetes objects that run plans inside the
// cluster (runner job) and reads their results back.
//
// Build turns a Spec into a ConfigMap holding the plans and the files they
// read, a ServiceAccount with its RBAC, and an Indexed Job whose pods each
// run one shard of the suite with a restricted security context. Inside a
// pod, Publish writes the shard's report.json (gzipped) into a results
// ConfigMap owned by the Job; Read finds the pods and those results again,
// and Objects lists what runner job created, for deletion.
//
// Building is a pure function of its Spec: the same plans and flags give
// the same objects in the same order. The package derives no RBAC for the
// plans (package rbac does; it is passed in as Spec.RBAC), names no step
// kind, decides no exit code and prints nothing.
package job
