package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Apply server-side applies obj and tells whether the server created it
// (HTTP 201) or changed an existing object (HTTP 200): exact, and without an
// extra request. The dynamic client's Apply hides the status code.
func (c *Client) Apply(ctx context.Context, m *meta.RESTMapping, obj *unstructured.Unstructured, opts metav1.ApplyOptions) (*unstructured.Unstructured, bool, error) {
	rc, err := c.restClient()
	if err != nil {
		return nil, false, err
	}
	body, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, false, fmt.Errorf("encoding %s: %w", obj.GetName(), err)
	}
	gv := m.Resource.GroupVersion()
	req := rc.Patch(types.ApplyPatchType).Body(body).Param("fieldManager", opts.FieldManager)
	if gv.Group == "" {
		req = req.AbsPath("/api", gv.Version)
	} else {
		req = req.AbsPath("/apis", gv.Group, gv.Version)
	}
	if ns := obj.GetNamespace(); ns != "" && m.Scope.Name() == meta.RESTScopeNameNamespace {
		req = req.Namespace(ns)
	}
	req = req.Resource(m.Resource.Resource).Name(obj.GetName())
	if opts.Force {
		req = req.Param("force", "true")
	}
	for _, d := range opts.DryRun {
		req = req.Param("dryRun", d)
	}
	res := req.Do(ctx)
	var code int
	res.StatusCode(&code)
	raw, err := res.Raw()
	if err != nil {
		// This client cannot decode the server's Status, so err is generic
		// ("the server rejected our request ..."); the body has the message.
		var st metav1.Status
		if json.Unmarshal(raw, &st) == nil && st.Kind == "Status" && st.Status == metav1.StatusFailure {
			return nil, false, &apierrors.StatusError{ErrStatus: st}
		}
		return nil, false, err
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(raw); err != nil {
		return nil, false, fmt.Errorf("decoding the applied %s: %w", obj.GetName(), err)
	}
	return out, code == http.StatusCreated, nil
}

func (c *Client) restClient() (*rest.RESTClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rest != nil {
		return c.rest, nil
	}
	rc, err := rest.UnversionedRESTClientFor(dynamic.ConfigFor(c.Config))
	if err != nil {
		return nil, fmt.Errorf("rest client: %w", err)
	}
	c.rest = rc
	return rc, nil
}
