package kube

import (
	"context"
	"strings"
)

// ProxyGet reads path from a pod's port through the API server's pod proxy
// (/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH; RBAC: get on
// pods/proxy). The API server dials the pod's IP itself, so this works
// from outside the cluster network, e.g. for Longhorn's manager metrics.
func (c *Client) ProxyGet(ctx context.Context, namespace, pod, port, path string) ([]byte, error) {
	rc, err := c.restClient()
	if err != nil {
		return nil, err
	}
	name := pod
	if port != "" {
		name += ":" + port
	}
	return rc.Get().AbsPath("/api/v1/namespaces", namespace, "pods", name, "proxy", strings.TrimPrefix(path, "/")).Do(ctx).Raw()
}
