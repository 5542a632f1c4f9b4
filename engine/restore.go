package engine

import (
	"slices"
)

// unrestored are fields the server owns: a restore never writes them.
var unrestored = [][]string{
	{"apiVersion"}, {"kind"}, {"status"},
	{"metadata", "name"}, {"metadata", "namespace"}, {"metadata", "uid"},
	{"metadata", "resourceVersion"}, {"metadata", "generation"},
	{"metadata", "creationTimestamp"}, {"metadata", "managedFields"},
	{"metadata", "deletionTimestamp"}, {"metadata", "selfLink"},
}

// RestorePatch is the JSON merge patch (RFC 7386) that sets each of paths
// of an object back to its value in before, or removes it (null) where
// before did not have it: a path whose ancestor before lacked removes that
// whole ancestor (a map entry the plan added, such as an attachment ticket,
// goes whole, not leaf by leaf into an empty map). A path inside a list
// restores the whole list, as merge patches replace lists. Paths under a
// shorter one are covered by it; server-owned fields (status,
// metadata.resourceVersion, ...) are left alone.
func RestorePatch(before map[string]any, paths [][]string) map[string]any {
	ps := make([][]string, 0, len(paths))
	for _, p := range paths {
		ps = append(ps, firstAbsent(before, p))
	}
	slices.SortStableFunc(ps, func(a, b []string) int { return len(a) - len(b) })
	var kept [][]string
	for _, p := range ps {
		if len(p) == 0 || slices.ContainsFunc(unrestored, func(u []string) bool { return hasPrefix(p, u) }) {
			continue
		}
		if slices.ContainsFunc(kept, func(k []string) bool { return hasPrefix(p, k) }) {
			continue
		}
		kept = append(kept, p)
	}
	patch := map[string]any{}
	for _, p := range kept {
		v, ok := lookup(before, p)
		if !ok {
			v = nil
		}
		set(patch, p, v)
	}
	return patch
}

// firstAbsent cuts path at its first element that before lacks (the whole
// path when it exists or only its leaf is missing).
func firstAbsent(before map[string]any, path []string) []string {
	for i := 1; i < len(path); i++ {
		if _, ok := lookup(before, path[:i]); !ok {
			return path[:i]
		}
	}
	return path
}

func hasPrefix(p, prefix []string) bool {
	return len(p) >= len(prefix) && slices.Equal(p[:len(prefix)], prefix)
}

func lookup(obj map[string]any, path []string) (any, bool) {
	var cur any = obj
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func set(obj map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := obj[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[k] = next
		}
		obj = next
	}
	obj[path[len(path)-1]] = v
}

// LeafPaths lists the paths of obj's leaves: values that are not maps
// (lists count as leaves, as merge patches and applies replace them), for
// recording which fields a change set.
func LeafPaths(obj map[string]any) [][]string {
	var out [][]string
	var walk func(prefix []string, m map[string]any)
	walk = func(prefix []string, m map[string]any) {
		for k, v := range m {
			p := append(slices.Clip(prefix), k)
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(p, sub)
				continue
			}
			out = append(out, p)
		}
	}
	walk(nil, obj)
	return out
}
