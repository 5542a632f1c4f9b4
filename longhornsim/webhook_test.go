package longhornsim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// fakeView is an admissionView over fixed objects.
type fakeView struct {
	objects  map[string]map[string]any // "<resource>/<name>"
	replicas map[string]int            // backing image -> replicas using it
	settings map[string]string
}

func (f fakeView) object(resource, name string) (map[string]any, bool) {
	o, ok := f.objects[resource+"/"+name]
	return o, ok
}
func (f fakeView) replicasUsing(bi string) int { return f.replicas[bi] }
func (f fakeView) setting(_ context.Context, name string) (string, bool) {
	v, ok := f.settings[name]
	return v, ok
}

func request(resource string, op admissionv1.Operation, obj, old map[string]any) *admissionv1.AdmissionRequest {
	req := &admissionv1.AdmissionRequest{Operation: op}
	req.Resource.Resource = resource
	if obj != nil {
		req.Object = runtime.RawExtension{Raw: mustJSON(obj)}
	}
	if old != nil {
		req.OldObject = runtime.RawExtension{Raw: mustJSON(old)}
	}
	return req
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// applied returns obj with the patch operations applied (all are "add" of
// a member whose parent exists).
func applied(t *testing.T, obj map[string]any, ops []patchOp) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(mustJSON(obj), &out); err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if op.Op != "add" {
			t.Fatalf("unexpected op %q", op.Op)
		}
		parts := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				t.Fatalf("patch %s: parent %s missing", op.Path, p)
			}
			m = next
		}
		var v any
		if err := json.Unmarshal(mustJSON(op.Value), &v); err != nil {
			t.Fatal(err)
		}
		m[parts[len(parts)-1]] = v
	}
	return out
}

func biObj(name string, spec map[string]any) map[string]any {
	return map[string]any{"metadata": map[string]any{"name": name, "namespace": Namespace}, "spec": spec}
}

var parrotURL = map[string]any{"url": "https://longhorn-backing-image.s3-us-west-1.amazonaws.com/parrot.qcow2"}

func TestMutateBackingImageDefaults(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		spec     map[string]any
		want     int64
	}{
		{"Longhorn's default without the setting", nil, map[string]any{"sourceType": "download", "sourceParameters": parrotURL}, 3},
		{"from the setting", map[string]string{settingDefaultMinBICopies: "2"}, map[string]any{"sourceType": "download", "sourceParameters": parrotURL}, 2},
		{"an explicit value stays", map[string]string{settingDefaultMinBICopies: "2"}, map[string]any{"sourceType": "download", "sourceParameters": parrotURL, "minNumberOfCopies": 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := admission{view: fakeView{settings: tt.settings}}
			obj := biObj("bi", tt.spec)
			ops, err := a.mutate(t.Context(), request("backingimages", admissionv1.Create, obj, nil))
			if err != nil {
				t.Fatal(err)
			}
			got := applied(t, obj, ops)
			if n := fieldInt(got, "spec", "minNumberOfCopies"); n != tt.want {
				t.Errorf("minNumberOfCopies = %d, want %d", n, tt.want)
			}
			if fieldString(got, "spec", "dataEngine") != "v1" {
				t.Errorf("dataEngine = %q, want v1", fieldString(got, "spec", "dataEngine"))
			}
			if fins, _ := field(got, "metadata", "finalizers").([]any); len(fins) != 1 || fins[0] != longhornFinalizer {
				t.Errorf("finalizers = %v", fins)
			}
		})
	}
}

func TestMutateVolumeDefaults(t *testing.T) {
	a := admission{view: fakeView{settings: map[string]string{settingDefaultReplicaCount: `{"v1":"2","v2":"1"}`}}}
	obj := map[string]any{"metadata": map[string]any{"name": "vol", "finalizers": []any{"other"}},
		"spec": map[string]any{"size": "33554431"}}
	ops, err := a.mutate(t.Context(), request("volumes", admissionv1.Create, obj, nil))
	if err != nil {
		t.Fatal(err)
	}
	got := applied(t, obj, ops)
	for path, want := range map[string]any{
		"spec.size": "33554432", "spec.numberOfReplicas": float64(2), "spec.dataEngine": "v1", "spec.accessMode": "rwo",
		"spec.image": longhornEngineImage, "spec.dataLocality": "disabled", "spec.replicaAutoBalance": "ignored",
		"metadata.labels.longhornvolume": "vol",
	} {
		if v := field(got, strings.Split(path, ".")...); v != want {
			t.Errorf("%s = %v, want %v", path, v, want)
		}
	}
	if fins := field(got, "metadata", "finalizers").([]any); len(fins) != 2 || fins[1] != longhornFinalizer {
		t.Errorf("finalizers = %v, want [other longhorn.io]", fins)
	}
	if _, ok := field(got, "spec", "frontend").(string); ok {
		t.Errorf("frontend defaulted to %v; Longhorn does not default it", field(got, "spec", "frontend"))
	}

	// Being deleted: no finalizer is added back.
	obj["metadata"].(map[string]any)["deletionTimestamp"] = "2026-01-01T00:00:00Z"
	ops, _ = a.mutate(t.Context(), request("volumes", admissionv1.Update, obj, obj))
	for _, op := range ops {
		if op.Path == "/metadata/finalizers" {
			t.Errorf("finalizer added to a volume being deleted: %v", op)
		}
	}
}

func TestValidateRefusals(t *testing.T) {
	bi := biObj("bi", map[string]any{"dataEngine": "v1"})
	bi["status"] = map[string]any{"virtualSize": int64(34037760)}
	view := fakeView{
		objects:  map[string]map[string]any{"backingimages/bi": bi, "volumes/vol": {"metadata": map[string]any{"name": "vol"}}},
		replicas: map[string]int{"bi": 3},
	}
	vol := func(spec map[string]any) map[string]any {
		base := map[string]any{"size": "33554432", "dataEngine": "v1", "frontend": "blockdev", "image": longhornEngineImage}
		for k, v := range spec {
			base[k] = v
		}
		return map[string]any{"metadata": map[string]any{"name": "v"}, "spec": base}
	}
	tests := []struct {
		name    string
		req     *admissionv1.AdmissionRequest
		wantMsg string // "" means allowed
	}{
		{"volume without backing image", request("volumes", admissionv1.Create, vol(nil), nil), ""},
		{"volume smaller than the backing image", request("volumes", admissionv1.Create, vol(map[string]any{"backingImage": "bi"}), nil),
			"volume size should be larger than the backing image size"},
		{"volume as large as the backing image", request("volumes", admissionv1.Create, vol(map[string]any{"backingImage": "bi", "size": "34037760"}), nil), ""},
		{"volume with a missing backing image", request("volumes", admissionv1.Create, vol(map[string]any{"backingImage": "nope"}), nil),
			`backingimage.longhorn.io "nope" not found`},
		{"v1 volume without frontend", request("volumes", admissionv1.Create, vol(map[string]any{"frontend": ""}), nil),
			"invalid volume frontend specified:  for data engine v1 "},
		{"v1 volume with nvmf", request("volumes", admissionv1.Create, vol(map[string]any{"frontend": "nvmf"}), nil),
			"invalid volume frontend specified: nvmf for data engine v1 "},
		{"data engine change", request("volumes", admissionv1.Update, vol(map[string]any{"dataEngine": "v2"}), vol(nil)),
			"changing data engine for volume v is not supported"},
		{"backing image in use", request("backingimages", admissionv1.Delete, nil, biObj("bi", nil)),
			"cannot delete backing image bi since there are replicas using it"},
		{"unused backing image", request("backingimages", admissionv1.Delete, nil, biObj("free", nil)), ""},
		{"loopback download", request("backingimages", admissionv1.Create,
			biObj("b", map[string]any{"sourceType": "download", "minNumberOfCopies": 1, "sourceParameters": map[string]any{"url": "http://127.0.0.1/x"}}), nil),
			"download URL must not target a loopback address"},
		{"no copies", request("backingimages", admissionv1.Create,
			biObj("b", map[string]any{"sourceType": "download", "minNumberOfCopies": -1, "sourceParameters": parrotURL}), nil),
			"minimum number of backing image copies -1 must larger than 0"},
		{"inconsistent ticket id", request("volumeattachments", admissionv1.Create, map[string]any{
			"spec": map[string]any{"volume": "vol", "attachmentTickets": map[string]any{"a": map[string]any{"id": "b"}}}}, nil),
			"the attachmentTickets map contains inconsistent attachment ticket ID: a vs b"},
		{"volume changed", request("volumeattachments", admissionv1.Update,
			map[string]any{"spec": map[string]any{"volume": "other"}}, map[string]any{"spec": map[string]any{"volume": "vol"}}),
			"spec.volume field is immutable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := admission{view: view}.validate(t.Context(), tt.req)
			switch {
			case tt.wantMsg == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.wantMsg != "" && (err == nil || err.Error() != tt.wantMsg):
				t.Errorf("got %v, want refusal %q", err, tt.wantMsg)
			}
		})
	}
}

func TestBumpTicketGenerations(t *testing.T) {
	ticket := func(node string, gen int64) map[string]any {
		return map[string]any{"id": "t", "type": "longhorn-api", "nodeID": node, "generation": gen}
	}
	tests := []struct {
		name             string
		now, old, status map[string]any
		want             int64
	}{
		{"new ticket without status keeps its generation", map[string]any{"t": ticket("n1", 0)}, nil, nil, 0},
		{"new ticket continues from its status", map[string]any{"t": ticket("n1", 0)}, nil, map[string]any{"t": map[string]any{"generation": int64(4)}}, 5},
		{"unchanged ticket", map[string]any{"t": ticket("n1", 2)}, map[string]any{"t": ticket("n1", 2)}, nil, 2},
		{"changed node", map[string]any{"t": ticket("n2", 2)}, map[string]any{"t": ticket("n1", 2)}, nil, 3},
		{"overflow", map[string]any{"t": ticket("n2", -5)}, map[string]any{"t": ticket("n1", 2)}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bumpTicketGenerations(tt.now, tt.old, tt.status)
			if g := fieldInt(got["t"].(map[string]any), "generation"); g != tt.want {
				t.Errorf("generation = %d, want %d", g, tt.want)
			}
		})
	}
}

// TestAdmissionHandlerRefusal checks the AdmissionReview answer carries
// Longhorn's status: 422 Invalid with the message as one cause.
func TestAdmissionHandlerRefusal(t *testing.T) {
	h := admissionHandler(zerolog.Nop(), func(context.Context, *admissionv1.AdmissionRequest) ([]patchOp, error) {
		return nil, invalid("spec.x", "no %s", "way")
	})
	body := mustJSON(admissionv1.AdmissionReview{Request: &admissionv1.AdmissionRequest{UID: "u1"}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, mutationPath, bytes.NewReader(body)))
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil {
		t.Fatal(err)
	}
	r := review.Response
	if r == nil || r.UID != "u1" || r.Allowed || r.Result.Code != 422 || r.Result.Message != "no way" || r.Result.Details.Causes[0].Field != "spec.x" {
		t.Errorf("response %+v", r)
	}
}
