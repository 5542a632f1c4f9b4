package engine

import (
	"encoding/json"
	"testing"
)

// TestRestorePatchRemovesAddedSubtrees: a map entry the plan added (a
// Longhorn attachment ticket) is removed whole, not emptied leaf by leaf
// (Longhorn's webhook refuses a ticket map with an empty ticket).
func TestRestorePatchRemovesAddedSubtrees(t *testing.T) {
	before := map[string]any{"spec": map[string]any{"attachmentTickets": map[string]any{"csi": map[string]any{"id": "csi"}}}, "metadata": map[string]any{"labels": map[string]any{"a": "1"}}}
	for _, tc := range []struct {
		name  string
		paths [][]string
		want  string
	}{
		{"added ticket goes whole", [][]string{{"spec", "attachmentTickets", "ui", "id"}, {"spec", "attachmentTickets", "ui", "parameters", "disableFrontend"}}, `{"spec":{"attachmentTickets":{"ui":null}}}`},
		{"changed leaf restored", [][]string{{"spec", "attachmentTickets", "csi", "id"}}, `{"spec":{"attachmentTickets":{"csi":{"id":"csi"}}}}`},
		{"added label removed, kept label restored", [][]string{{"metadata", "labels", "b"}, {"metadata", "labels", "a"}}, `{"metadata":{"labels":{"a":"1","b":null}}}`},
		{"added map removed", [][]string{{"metadata", "annotations", "x"}}, `{"metadata":{"annotations":null}}`},
		{"server fields left alone", [][]string{{"status", "state"}, {"metadata", "resourceVersion"}}, `{}`},
	} {
		got, _ := json.Marshal(RestorePatch(before, tc.paths))
		if string(got) != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
