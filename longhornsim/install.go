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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// What Install does with CRDs (Options.CRDs, `runner sim --longhorn-crds`).
const (
	// CRDsInstall applies the simulator's CRDs, replacing installed ones.
	CRDsInstall = "install"
	// CRDsKeep leaves objects already installed alone (for example
	// Longhorn's own CRDs, applied from its deploy/longhorn.yaml) and creates
	// only the missing ones. The installed CRDs must serve longhorn.io/v1beta2.
	CRDsKeep = "keep"
)

// InstallCRDs is Install with CRDsInstall.
func InstallCRDs(ctx context.Context, cfg *rest.Config) error {
	return Install(ctx, cfg, CRDsInstall)
}

// Install installs the Longhorn CRDs, the longhorn-system namespace and the
// CSIDriver driver.longhorn.io, then waits until every CRD is Established.
// With CRDsInstall it applies them with server-side apply; with CRDsKeep it
// creates only those that do not exist. It is idempotent.
func Install(ctx context.Context, cfg *rest.Config, crds string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create dynamic client: %w", err)
	}
	return installCRDs(ctx, dyn, crds)
}

func installCRDs(ctx context.Context, dyn dynamic.Interface, mode string) error {
	if mode != CRDsInstall && mode != CRDsKeep {
		return fmt.Errorf("CRDs %q: want %q or %q", mode, CRDsInstall, CRDsKeep)
	}
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
		if res.gvr == crdGVR {
			crds = append(crds, obj.GetName())
		}
		if mode == CRDsKeep {
			have, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
			switch {
			case err == nil:
				if res.gvr == crdGVR && !servesVersion(have, lhGVR("").Version) {
					return fmt.Errorf("installed CRD %s does not serve %s, which the simulator needs", obj.GetName(), lhGVR("").Version)
				}
				continue
			case !apierrors.IsNotFound(err):
				return fmt.Errorf("get %s %s: %w", obj.GetKind(), obj.GetName(), err)
			}
			if _, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create %s %s: %w", obj.GetKind(), obj.GetName(), err)
			}
			continue
		}
		if _, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			return fmt.Errorf("apply %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	for _, name := range crds {
		if err := waitEstablished(ctx, dyn, name, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// servesVersion reports whether a CRD serves the API version.
func servesVersion(crd *unstructured.Unstructured, version string) bool {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if m["name"] == version && m["served"] == true {
			return true
		}
	}
	return false
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
