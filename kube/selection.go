package kube

import "k8s.io/apimachinery/pkg/runtime/schema"

// Selection names a set of objects: a resource in a namespace (empty: all
// or cluster-scoped), by name or selectors.
type Selection struct {
	GVR           schema.GroupVersionResource
	Kind          string
	Namespace     string
	Name          string
	LabelSelector string
	FieldSelector string
}

func (s Selection) String() string {
	out := s.Kind
	if s.Namespace != "" {
		out += " in " + s.Namespace
	}
	switch {
	case s.Name != "":
		out += " named " + s.Name
	case s.LabelSelector != "":
		out += " with labels " + s.LabelSelector
	}
	if s.FieldSelector != "" {
		out += " with fields " + s.FieldSelector
	}
	return out
}
