package longhornsim

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

//go:embed manifests/*.yaml
var manifestFS embed.FS

// fieldManager names the simulator in managedFields.
const fieldManager = "longhorn-sim"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// manifestResources maps the kinds found in manifests/ to their resources.
var manifestResources = map[string]struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}{
	"Namespace":                {gvr: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}},
	"CSIDriver":                {gvr: schema.GroupVersionResource{Group: "storage.k8s.io", Version: "v1", Resource: "csidrivers"}},
	"CustomResourceDefinition": {gvr: crdGVR},
}

// Manifests returns the objects InstallCRDs applies: the longhorn-system
// namespace, the CSIDriver driver.longhorn.io and the Longhorn CRDs.
func Manifests() ([]*unstructured.Unstructured, error) {
	files, err := fs.Glob(manifestFS, "manifests/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list embedded manifests: %w", err)
	}
	sort.Strings(files)
	var objs []*unstructured.Unstructured
	for _, f := range files {
		data, err := manifestFS.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := dec.Decode(&obj.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("decode %s: %w", f, err)
			}
			if len(obj.Object) == 0 {
				continue
			}
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

// InstallCRDs applies the Longhorn CRDs, the longhorn-system namespace and the
// CSIDriver driver.longhorn.io with server-side apply, then waits until every
// CRD is Established. It is idempotent.
func InstallCRDs(ctx context.Context, cfg *rest.Config) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create dynamic client: %w", err)
	}
	return installCRDs(ctx, dyn)
}

func installCRDs(ctx context.Context, dyn dynamic.Interface) error {
	objs, err := Manifests()
	if err != nil {
		return err
	}
	var crds []string
	for _, obj := range objs {
		res, ok := manifestResources[obj.GetKind()]
		if !ok {
			return fmt.Errorf("manifest %s/%s: no resource known for kind", obj.GetKind(), obj.GetName())
		}
		var ri dynamic.ResourceInterface = dyn.Resource(res.gvr)
		if res.namespaced {
			ri = dyn.Resource(res.gvr).Namespace(obj.GetNamespace())
		}
		if _, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			return fmt.Errorf("apply %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		if res.gvr == crdGVR {
			crds = append(crds, obj.GetName())
		}
	}
	for _, name := range crds {
		if err := waitEstablished(ctx, dyn, name, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// waitEstablished waits until the CRD reports Established=True and reports
// the last conditions seen when it times out.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		last = fmt.Sprintf("conditions %v", conds)
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("wait for CRD %s to be Established (last seen: %s): %w", name, last, err)
	}
	return nil
}
