package localcluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Annotations and labels on the fake nodes.
const (
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
	// The attach/detach controller only creates VolumeAttachments for nodes
	// that carry this annotation (normally set by the kubelet).
	attachDetachAnnotation = "volumes.kubernetes.io/controller-managed-attach-detach"
)

// NodeName returns the name of the i-th node, counting from 1.
func NodeName(i int) string { return fmt.Sprintf("node-%d", i) }

// setupObjects waits for the default ServiceAccount (pods are refused until
// it exists), creates the namespaces and the nodes, and waits until every
// node is Ready without a not-ready taint.
func (c *Cluster) setupObjects(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.cfg)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	log := c.opts.Logger
	began := time.Now()
	if err := poll(ctx, "default ServiceAccount in namespace default", func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return c.withExited(err)
	}
	log.Debug().Stringer("took", time.Since(began).Round(time.Millisecond)).Msg("default ServiceAccount exists")
	for _, ns := range c.opts.Namespaces {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	capacity, err := c.nodeCapacity()
	if err != nil {
		return err
	}
	for i := 1; i <= c.opts.Nodes; i++ {
		if _, err := cs.CoreV1().Nodes().Create(ctx, c.node(NodeName(i), capacity), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", NodeName(i), err)
		}
	}
	err = c.withExited(poll(ctx, fmt.Sprintf("%d nodes Ready", c.opts.Nodes), func(ctx context.Context) error {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		var notReady []string
		for i := 1; i <= c.opts.Nodes; i++ {
			idx := slices.IndexFunc(nodes.Items, func(n corev1.Node) bool { return n.Name == NodeName(i) })
			if idx < 0 || !nodeReady(&nodes.Items[idx]) {
				notReady = append(notReady, NodeName(i))
			}
		}
		if len(notReady) > 0 {
			return fmt.Errorf("not Ready (or still tainted not-ready): %s", strings.Join(notReady, ", "))
		}
		return nil
	}))
	if err != nil {
		return err
	}
	log.Debug().Stringer("took", time.Since(began).Round(time.Millisecond)).Int("nodes", c.opts.Nodes).Msg("nodes Ready")
	return nil
}

func (c *Cluster) nodeCapacity() (corev1.ResourceList, error) {
	rl := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{
		corev1.ResourceCPU:              c.opts.NodeCPU,
		corev1.ResourceMemory:           c.opts.NodeMemory,
		corev1.ResourcePods:             c.opts.NodePods,
		corev1.ResourceEphemeralStorage: "100Gi",
	} {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("node %s capacity %q: %w", name, v, err)
		}
		rl[name] = q
	}
	return rl, nil
}

func (c *Cluster) node(name string, capacity corev1.ResourceList) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
			Annotations: map[string]string{
				kwokNodeAnnotation:             "fake",
				attachDetachAnnotation:         "true",
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:  PinnedVersions().Kubernetes,
				OperatingSystem: "linux",
				Architecture:    "amd64",
			},
		},
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// withExited prefers the report of a component that died over err, since a
// dead component is usually why a wait failed.
func (c *Cluster) withExited(err error) error {
	if err == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if e := p.exitedError(); e != nil {
			return fmt.Errorf("%w (while waiting: %v)", e, err)
		}
	}
	return err
}

// poll calls f every 100ms until it succeeds or ctx ends; then it returns
// the last error f gave, not just "context deadline exceeded".
func poll(ctx context.Context, what string, f func(context.Context) error) error {
	begin := time.Now()
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = f(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (%s): %w", what, time.Since(begin).Round(time.Millisecond), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
