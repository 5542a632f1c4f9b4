package kube

import (
	"context"
	"strconv"
)

// PodLogs reads the last tail lines of a container's log (all with tail
// 0). Clusters whose nodes run no kubelet (KWOK) answer with an error.
func (c *Client) PodLogs(ctx context.Context, namespace, pod, container string, tail int64) ([]byte, error) {
	rc, err := c.restClient()
	if err != nil {
		return nil, err
	}
	req := rc.Get().AbsPath("/api/v1/namespaces", namespace, "pods", pod, "log")
	if container != "" {
		req = req.Param("container", container)
	}
	if tail > 0 {
		req = req.Param("tailLines", strconv.FormatInt(tail, 10))
	}
	return req.Do(ctx).Raw()
}
