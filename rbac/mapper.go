package rbac

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/kube"
)

// Resource is a kind as RBAC names it: API group and resource, and whether
// its objects live in namespaces.
type Resource struct {
	Group, Resource string
	Namespaced      bool
}

// Mapper turns a kind as a plan names it (apiVersion and kind, or a
// resource such as "pods" or "volumes.longhorn.io") into a Resource.
type Mapper interface {
	Map(apiVersion, kind, resource string) (Resource, error)
}

// Guess maps without a cluster: built-in kinds from a table of the
// cluster-scoped ones, every other kind namespaced, its resource the
// lower-case plural of its kind (as the API server names CRDs' resources by
// default). A cluster-scoped custom kind is mapped wrongly; runner rbac
// --discover and the preflight ask the cluster instead.
type Guess struct{}

// Map implements Mapper.
func (Guess) Map(apiVersion, kind, resource string) (Resource, error) {
	if resource != "" {
		gr := schema.ParseGroupResource(strings.ToLower(resource))
		return Resource{Group: gr.Group, Resource: gr.Resource, Namespaced: !clusterScoped[gr]}, nil
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return Resource{}, fmt.Errorf("apiVersion %q: %w", apiVersion, err)
	}
	if kind == "" {
		return Resource{}, fmt.Errorf("missing kind beside apiVersion %q", apiVersion)
	}
	plural := irregular[kind]
	if plural == "" {
		guess, _ := meta.UnsafeGuessKindToResource(gv.WithKind(kind))
		plural = guess.Resource
	}
	return Resource{Group: gv.Group, Resource: plural, Namespaced: !clusterScoped[schema.GroupResource{Group: gv.Group, Resource: plural}]}, nil
}

// irregular are built-in kinds whose resource is not the guessed plural.
var irregular = map[string]string{"Endpoints": "endpoints"}

// clusterScoped are the built-in cluster-scoped resources (Kubernetes
// 1.37), the ones runner's plans are likely to touch.
var clusterScoped = map[schema.GroupResource]bool{}

func init() {
	for group, resources := range map[string][]string{
		"":                             {"nodes", "namespaces", "persistentvolumes", "componentstatuses"},
		"rbac.authorization.k8s.io":    {"clusterroles", "clusterrolebindings"},
		"storage.k8s.io":               {"storageclasses", "volumeattachments", "csidrivers", "csinodes", "volumeattributesclasses"},
		"apiextensions.k8s.io":         {"customresourcedefinitions"},
		"admissionregistration.k8s.io": {"mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings", "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"},
		"scheduling.k8s.io":            {"priorityclasses"},
		"apiregistration.k8s.io":       {"apiservices"},
		"node.k8s.io":                  {"runtimeclasses"},
		"flowcontrol.apiserver.k8s.io": {"flowschemas", "prioritylevelconfigurations"},
		"certificates.k8s.io":          {"certificatesigningrequests", "clustertrustbundles"},
		"networking.k8s.io":            {"ingressclasses", "ipaddresses", "servicecidrs"},
		"resource.k8s.io":              {"deviceclasses", "resourceslices"},
	} {
		for _, r := range resources {
			clusterScoped[schema.GroupResource{Group: group, Resource: r}] = true
		}
	}
}

// Discovered maps with the cluster's discovery (a RESTMapper), and falls
// back to Guess for kinds the cluster does not serve yet (a CRD the plan
// itself creates).
type Discovered struct{ Mapper meta.RESTMapper }

// Map implements Mapper.
func (d Discovered) Map(apiVersion, kind, resource string) (Resource, error) {
	var m *meta.RESTMapping
	var err error
	if resource != "" {
		m, err = kube.ResourceMapping(d.Mapper, resource)
	} else {
		var gv schema.GroupVersion
		if gv, err = schema.ParseGroupVersion(apiVersion); err == nil {
			m, err = d.Mapper.RESTMapping(gv.WithKind(kind).GroupKind(), gv.Version)
		}
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return Guess{}.Map(apiVersion, kind, resource)
		}
		return Resource{}, err
	}
	return Resource{Group: m.Resource.Group, Resource: m.Resource.Resource, Namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}
