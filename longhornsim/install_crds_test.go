package longhornsim

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Longhorn's CRD field facts live in testdata/longhorn-crds/<tag>.facts, one
// line per schema node of the five CRDs the simulator installs (v1beta2):
//
//	<crd> <path> <type> [enum=a,b] [preserve]
//
// with "a.b" for properties, "a.*" for additionalProperties and "a[]" for
// array items. Regenerate them from a clone of longhorn/longhorn with
//
//	go test ./longhornsim -run TestLonghornCRDFacts -update-crd-facts=/path/to/longhorn.git
//
// which reads deploy/longhorn.yaml at each tag in longhornTags.
var updateFacts = flag.String("update-crd-facts", "", "git dir of longhorn/longhorn: rewrite testdata/longhorn-crds from its tags")

// longhornTags are the releases the simulator's CRDs are held against: the
// newest patch release of 1.9, 1.10 and 1.12 when this was written.
var longhornTags = []string{"v1.9.2", "v1.10.2", "v1.12.1"}

const factsDir = "../testdata/longhorn-crds"

// schemaNode is one node of a CRD's openAPIV3Schema.
type schemaNode struct {
	typ      string
	enum     []string
	preserve bool // x-kubernetes-preserve-unknown-fields: nothing below is pruned
}

func (n schemaNode) String() string {
	s := n.typ
	if s == "" {
		s = "-"
	}
	if len(n.enum) > 0 {
		s += " enum=" + strings.Join(n.enum, ",")
	}
	if n.preserve {
		s += " preserve"
	}
	return s
}

// crdFacts maps CRD name -> path -> node.
type crdFacts map[string]map[string]schemaNode

// simulatedCRDs are the CRDs whose facts are kept.
var simulatedCRDs = []string{"backingimages.longhorn.io", "volumes.longhorn.io", "replicas.longhorn.io", "engines.longhorn.io", "volumeattachments.longhorn.io"}

// factsFromCRDs walks the v1beta2 schema of each simulated CRD in objs.
func factsFromCRDs(objs []*unstructured.Unstructured) crdFacts {
	facts := crdFacts{}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" || !slices.Contains(simulatedCRDs, o.GetName()) {
			continue
		}
		versions, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
		for _, v := range versions {
			vm, _ := v.(map[string]any)
			if vm["name"] != "v1beta2" {
				continue
			}
			root, _, _ := unstructured.NestedMap(vm, "schema", "openAPIV3Schema")
			paths := map[string]schemaNode{}
			props, _ := root["properties"].(map[string]any)
			for _, top := range []string{"spec", "status"} {
				if sub, ok := props[top].(map[string]any); ok {
					walkSchema(top, sub, paths)
				}
			}
			facts[o.GetName()] = paths
		}
	}
	return facts
}

func walkSchema(path string, s map[string]any, out map[string]schemaNode) {
	n := schemaNode{}
	n.typ, _ = s["type"].(string)
	n.preserve, _ = s["x-kubernetes-preserve-unknown-fields"].(bool)
	if enum, ok := s["enum"].([]any); ok {
		for _, e := range enum {
			n.enum = append(n.enum, fmt.Sprint(e))
		}
		sort.Strings(n.enum)
	}
	out[path] = n
	if props, ok := s["properties"].(map[string]any); ok {
		for k, sub := range props {
			if m, ok := sub.(map[string]any); ok {
				walkSchema(path+"."+k, m, out)
			}
		}
	}
	if ap, ok := s["additionalProperties"].(map[string]any); ok {
		walkSchema(path+".*", ap, out)
	}
	if items, ok := s["items"].(map[string]any); ok {
		walkSchema(path+"[]", items, out)
	}
}

func decodeYAMLObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

func writeFacts(path, header string, facts crdFacts) error {
	var b strings.Builder
	b.WriteString(header)
	for _, crd := range simulatedCRDs {
		paths := make([]string, 0, len(facts[crd]))
		for p := range facts[crd] {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fmt.Fprintf(&b, "%s %s %s\n", crd, p, facts[crd][p])
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func readFacts(t *testing.T, tag string) crdFacts {
	t.Helper()
	f, err := os.Open(filepath.Join(factsDir, tag+".facts"))
	if err != nil {
		t.Fatalf("read facts (regenerate with -update-crd-facts): %v", err)
	}
	defer f.Close()
	facts := crdFacts{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			t.Fatalf("%s.facts: bad line %q", tag, line)
		}
		n := schemaNode{typ: fields[2]}
		if n.typ == "-" {
			n.typ = ""
		}
		for _, extra := range fields[3:] {
			switch {
			case strings.HasPrefix(extra, "enum="):
				n.enum = strings.Split(strings.TrimPrefix(extra, "enum="), ",")
			case extra == "preserve":
				n.preserve = true
			}
		}
		if facts[fields[0]] == nil {
			facts[fields[0]] = map[string]schemaNode{}
		}
		facts[fields[0]][fields[1]] = n
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return facts
}

// ourFacts are the facts of the simulator's embedded CRDs.
func ourFacts(t *testing.T) crdFacts {
	t.Helper()
	objs, err := Manifests()
	if err != nil {
		t.Fatal(err)
	}
	return factsFromCRDs(objs)
}

// TestLonghornCRDFacts regenerates the facts with -update-crd-facts and
// otherwise checks every tag has its file.
func TestLonghornCRDFacts(t *testing.T) {
	if *updateFacts == "" {
		for _, tag := range longhornTags {
			if f := readFacts(t, tag); len(f) != len(simulatedCRDs) {
				t.Errorf("%s.facts has %d of the %d CRDs", tag, len(f), len(simulatedCRDs))
			}
		}
		return
	}
	for _, tag := range longhornTags {
		blob, err := exec.Command("git", "--git-dir", *updateFacts, "rev-parse", tag+":deploy/longhorn.yaml").Output()
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		data, err := exec.Command("git", "--git-dir", *updateFacts, "show", tag+":deploy/longhorn.yaml").Output()
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		objs, err := decodeYAMLObjects(data)
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		header := fmt.Sprintf("# Field facts of Longhorn %s's CRDs (longhorn.io/v1beta2), from longhorn/longhorn\n"+
			"# deploy/longhorn.yaml at tag %s (blob %s).\n# Generated by: go test ./longhornsim -run TestLonghornCRDFacts -update-crd-facts=GIT_DIR\n",
			tag, tag, strings.TrimSpace(string(blob)))
		if err := writeFacts(filepath.Join(factsDir, tag+".facts"), header, factsFromCRDs(objs)); err != nil {
			t.Fatal(err)
		}
	}
}

// usedPaths are the fields the shipped scenario and the simulator's own
// flows read or write by name (scenarios/bi-scalability.yaml, the CSI
// provisioner and attacher, the webhook): they must exist in every Longhorn
// release with the same type, and where Longhorn has an enum the
// simulator's must accept at least its values.
var usedPaths = map[string][]string{
	"backingimages.longhorn.io": {
		"spec.sourceType", "spec.sourceParameters.*", "spec.checksum", "spec.minNumberOfCopies", "spec.dataEngine",
		"spec.diskFileSpecMap", "spec.disks",
		"status.checksum", "status.size", "status.virtualSize", "status.uuid", "status.ownerID",
		"status.diskFileStatusMap.*.state", "status.diskFileStatusMap.*.progress", "status.diskFileStatusMap.*.message",
		"status.diskFileStatusMap.*.lastStateTransitionTime", "status.diskFileStatusMap.*.dataEngine",
	},
	"volumes.longhorn.io": {
		"spec.size", "spec.numberOfReplicas", "spec.frontend", "spec.accessMode", "spec.dataEngine", "spec.backingImage",
		"spec.nodeID", "spec.staleReplicaTimeout", "spec.fromBackup", "spec.image", "spec.dataLocality", "spec.migratable",
		"spec.Standby",
		"status.state", "status.robustness", "status.currentNodeID", "status.frontendDisabled",
		"status.conditions[].type", "status.conditions[].status", "status.conditions[].reason",
	},
	"replicas.longhorn.io": {
		"spec.volumeName", "spec.nodeID", "spec.desireState", "spec.diskID", "spec.backingImage", "spec.healthyAt", "spec.failedAt",
		"status.currentState",
	},
	"engines.longhorn.io": {
		"spec.volumeName", "spec.nodeID", "spec.desireState", "status.currentState", "status.replicaModeMap.*", "status.endpoint",
	},
	"volumeattachments.longhorn.io": {
		"spec.volume", "spec.attachmentTickets.*.id", "spec.attachmentTickets.*.type", "spec.attachmentTickets.*.nodeID",
		"spec.attachmentTickets.*.parameters.*", "spec.attachmentTickets.*.generation",
		"status.attachmentTicketStatuses.*.satisfied", "status.attachmentTicketStatuses.*.generation",
		"status.attachmentTicketStatuses.*.conditions[].type",
	},
}

// TestCRDSchemasMatchLonghorn holds the simulator's CRDs against Longhorn's:
// every used path exists in each release and in ours with the same type, our
// enums accept Longhorn's values, and no path both have differs in type.
func TestCRDSchemasMatchLonghorn(t *testing.T) {
	ours := ourFacts(t)
	for _, tag := range longhornTags {
		theirs := readFacts(t, tag)
		for crd, paths := range usedPaths {
			for _, p := range paths {
				th, inTheirs := theirs[crd][p]
				_, inOurs := ours[crd][p]
				switch {
				case !inTheirs:
					t.Errorf("%s: %s %s is used but Longhorn has no such field", tag, crd, p)
				case !inOurs:
					t.Errorf("%s %s is used but the simulator's CRD lacks it (Longhorn %s: %s)", crd, p, tag, th)
				}
			}
		}
		for crd, paths := range ours {
			for p, o := range paths {
				th, ok := theirs[crd][p]
				if !ok {
					continue
				}
				if o.typ != th.typ {
					t.Errorf("%s: %s %s is %q in the simulator, %q in Longhorn", tag, crd, p, o.typ, th.typ)
				}
				if len(o.enum) > 0 {
					for _, v := range th.enum {
						if !slices.Contains(o.enum, v) {
							t.Errorf("%s: %s %s: Longhorn accepts %q, the simulator's enum %v does not", tag, crd, p, v, o.enum)
						}
					}
				}
			}
		}
	}
}

// missingInLonghorn returns the leaf paths of obj (a Longhorn object of crd
// as stored) that Longhorn's schema of tag does not have, so that its
// pruning would drop them.
func missingInLonghorn(facts map[string]schemaNode, obj map[string]any) []string {
	var missing []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		n, ok := facts[path]
		if !ok {
			missing = append(missing, path)
			return
		}
		if n.preserve {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			for k, sub := range x {
				_, isProp := facts[path+"."+k]
				if _, isMap := facts[path+".*"]; isMap && !isProp {
					walk(path+".*", sub)
				} else {
					walk(path+"."+k, sub)
				}
			}
		case []any:
			for _, sub := range x {
				walk(path+"[]", sub)
			}
		}
	}
	for _, top := range []string{"spec", "status"} {
		if v, ok := obj[top]; ok {
			walk(top, v)
		}
	}
	sort.Strings(missing)
	return slices.Compact(missing)
}

func TestMissingInLonghorn(t *testing.T) {
	facts := map[string]schemaNode{
		"spec": {typ: "object"}, "spec.size": {typ: "string"},
		"spec.tickets": {typ: "object"}, "spec.tickets.*": {typ: "object"}, "spec.tickets.*.id": {typ: "string"},
		"status": {typ: "object"}, "status.conditions": {typ: "array"}, "status.conditions[]": {typ: "object"},
		"status.conditions[].type": {typ: "string"}, "status.free": {typ: "object", preserve: true},
	}
	obj := map[string]any{
		"spec": map[string]any{"size": "1", "bogus": true, "tickets": map[string]any{"a": map[string]any{"id": "a", "extra": 1}}},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "x", "reason": "y"}},
			"free": map[string]any{"anything": 1}},
	}
	got := missingInLonghorn(facts, obj)
	want := []string{"spec.bogus", "spec.tickets.*.extra", "status.conditions[].reason"}
	if !slices.Equal(got, want) {
		t.Errorf("missing %v, want %v", got, want)
	}
}
