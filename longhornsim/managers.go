package longhornsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
)

// Longhorn's managers: one longhorn-manager pod per node (a DaemonSet in
// Longhorn, app=longhorn-manager in longhorn-system, behind the Service
// longhorn-backend, port "manager", 9500), each serving at /metrics the
// series of what its node owns. The API server reaches a pod through its
// pod proxy at the pod's IP, which must not be loopback
// (proxyutil.IsProxyableIP): the simulator serves each node's metrics on
// the host's own address, one port per node, and gives the node's KWOK
// pod that address as its IP and that port as its container port
// "manager". A plan that scrapes port "manager" (or no port: the first
// declared) reaches them as it reaches a real Longhorn's 9500.

// Names of the managers' objects.
const (
	managerApp      = "longhorn-manager"
	managerPortName = "manager"
	managerService  = "longhorn-backend"
	// managerAPIPort is longhorn-manager's API and metrics port
	// (types.DefaultAPIPort), the Service's port.
	managerAPIPort = 9500
	// ManagerAddressNone disables the managers' metrics endpoints.
	ManagerAddressNone = "none"
)

// managers runs the metrics endpoint and keeps the pod of each node's
// longhorn-manager.
type managers struct {
	s      *sim
	ip     net.IP
	queues *queueMetrics
	kick   chan struct{}

	mu        sync.Mutex
	endpoints map[string]*managerEndpoint // node -> endpoint
}

// managerEndpoint is one node's /metrics.
type managerEndpoint struct {
	node string
	port int
	srv  *http.Server
}

// startManagers instruments the queues (before anything is enqueued) and,
// once the caches have synced, serves each node's metrics and keeps its
// manager pod until ctx ends. Without a usable address it logs why and
// serves nothing.
func (s *sim) startManagers(ctx context.Context) {
	m := &managers{s: s, queues: newQueueMetrics(), kick: make(chan struct{}, 1), endpoints: map[string]*managerEndpoint{}}
	m.queues.instrument(s.controllers())
	ip, err := managerIP(s.opts.ManagerAddress)
	if err != nil {
		s.log.Warn().Err(err).Msg("longhorn-manager metrics are not served")
		return
	}
	if ip == nil {
		return
	}
	m.ip = ip
	go m.run(ctx)
}

// managerIP picks the address the managers' endpoints listen on: the
// option, else the first global unicast IPv4 address of an interface that
// is up (the API server refuses to proxy to loopback).
func managerIP(opt string) (net.IP, error) {
	switch opt {
	case ManagerAddressNone:
		return nil, nil
	case "":
	default:
		ip := net.ParseIP(opt)
		if ip == nil || !ip.IsGlobalUnicast() {
			return nil, fmt.Errorf("manager address %q is not a global unicast IP (the API server proxies to no other)", opt)
		}
		return ip, nil
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP, nil
			}
		}
	}
	return nil, errors.New("no network interface has a global unicast IPv4 address for the API server to proxy to (set the manager address)")
}

func (m *managers) run(ctx context.Context) {
	s := m.s
	if !cache.WaitForCacheSync(ctx.Done(), s.kubeInformers.Core().V1().Nodes().Informer().HasSynced, s.pods.HasSynced,
		s.volumes.HasSynced, s.lhNodes.HasSynced) {
		return
	}
	poke := func(any) { m.poke() }
	_, _ = s.kubeInformers.Core().V1().Nodes().Informer().AddEventHandler(handlerFunc(poke))
	_, _ = s.pods.AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			p, ok := obj.(*corev1.Pod)
			return ok && p.Namespace == Namespace && p.Labels["app"] == managerApp
		},
		Handler: handlerFunc(poke),
	})
	if err := m.ensureService(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn().Err(err).Msg("create the longhorn-backend Service")
	}
	s.log.Info().Str("address", m.ip.String()).Msg("serving longhorn-manager metrics, one pod and port per node")
	defer m.closeAll()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		if err := m.reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Debug().Err(err).Msg("longhorn-manager pods, trying again")
		}
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-tick.C:
		}
	}
}

func (m *managers) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// runsManager says whether a node runs a longhorn-manager pod: it exists
// and no NoExecute taint that the DaemonSet does not tolerate evicts it.
func runsManager(n *corev1.Node) bool {
	if n.DeletionTimestamp != nil {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute && !autoToleratedTaints[t.Key] {
			return false
		}
	}
	return true
}

// reconcile serves an endpoint and keeps a Running pod for each node that
// runs a manager, and removes both for the others.
func (m *managers) reconcile(ctx context.Context) error {
	s := m.s
	nodes, err := s.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range nodes {
		if runsManager(n) {
			want[n.Name] = true
		}
	}
	var errs []error
	for node := range want {
		if _, err := m.endpoint(node); err != nil {
			errs = append(errs, err)
		}
	}
	m.mu.Lock()
	for node, ep := range m.endpoints {
		if !want[node] {
			_ = ep.srv.Close()
			delete(m.endpoints, node)
		}
	}
	m.mu.Unlock()

	have := map[string]*corev1.Pod{}
	for _, obj := range s.pods.GetStore().List() {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Namespace != Namespace || p.Labels["app"] != managerApp || p.DeletionTimestamp != nil {
			continue
		}
		ep := m.endpointOf(p.Spec.NodeName)
		if ep == nil || podPortOf(p) != ep.port || have[p.Spec.NodeName] != nil {
			errs = append(errs, m.deletePod(ctx, p.Name))
			continue
		}
		have[p.Spec.NodeName] = p
	}
	for node := range want {
		ep := m.endpointOf(node)
		if ep == nil {
			continue
		}
		p := have[node]
		if p == nil {
			var err error
			if p, err = m.createPod(ctx, node, ep.port); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if p.Status.PodIP != m.ip.String() || p.Status.Phase != corev1.PodRunning {
			errs = append(errs, m.setRunning(ctx, p))
		}
	}
	return errors.Join(errs...)
}

func (m *managers) endpointOf(node string) *managerEndpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.endpoints[node]
}

// endpoint returns node's endpoint, listening on a new port when it has
// none.
func (m *managers) endpoint(node string) (*managerEndpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ep := m.endpoints[node]; ep != nil {
		return ep, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(m.ip.String(), "0"))
	if err != nil {
		return nil, fmt.Errorf("listen for the metrics of %s: %w", node, err)
	}
	reg := prometheus.NewRegistry()
	v, _ := parseMetricsVersion(m.s.opts.MetricsVersion) // checked by withDefaults
	reg.MustRegister(&nodeCollector{s: m.s, node: node, v: v})
	if v.atLeast(1, 3) { // Longhorn's work queue metrics came in 1.3
		reg.MustRegister(&leadCollector{m: m, node: node})
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ep := &managerEndpoint{node: node, port: ln.Addr().(*net.TCPAddr).Port,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = ep.srv.Serve(ln) }()
	m.endpoints[node] = ep
	return ep, nil
}

func (m *managers) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for node, ep := range m.endpoints {
		_ = ep.srv.Close()
		delete(m.endpoints, node)
	}
}

// lead is the node whose manager serves the work queue metrics: the first
// by name of those that run one. The simulator's queues serve every node,
// so one manager reports them and a sum over the managers counts each
// queue once (in Longhorn each manager has queues of its own).
func (m *managers) lead() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var nodes []string
	for n := range m.endpoints {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	if len(nodes) == 0 {
		return ""
	}
	return nodes[0]
}

// leadCollector collects the work queue metrics on the lead's endpoint.
type leadCollector struct {
	m    *managers
	node string
}

func (c *leadCollector) Describe(chan<- *prometheus.Desc) {}

func (c *leadCollector) Collect(ch chan<- prometheus.Metric) {
	if c.m.lead() == c.node {
		c.m.queues.Collect(ch)
	}
}

// managerPodName is the name node.go gives the pod in ManagerPodDown.
func managerPodName(node string) string { return managerApp + "-" + hashHex(node)[:5] }

func podPortOf(p *corev1.Pod) int {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == managerPortName {
				return int(cp.ContainerPort)
			}
		}
	}
	return 0
}

func (m *managers) createPod(ctx context.Context, node string, port int) (*corev1.Pod, error) {
	zero := int64(0)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: managerPodName(node), Namespace: Namespace,
			Labels: map[string]string{"app": managerApp, "app.kubernetes.io/name": "longhorn", "app.kubernetes.io/managed-by": fieldManager}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: managerApp, Image: "longhornio/longhorn-manager:simulated",
				Ports: []corev1.ContainerPort{{Name: managerPortName, ContainerPort: int32(port), Protocol: corev1.ProtocolTCP}},
			}},
			Tolerations: []corev1.Toleration{
				{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
				{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
			},
		},
	}
	out, err := m.s.kube.CoreV1().Pods(Namespace).Create(ctx, p, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil {
		return nil, fmt.Errorf("create %s for %s: %w", p.Name, node, err)
	}
	return out, nil
}

// setRunning writes the status a kubelet would: Running and Ready at the
// simulator's address. KWOK's own pod stages start only on pods without a
// pod IP, so they leave these pods alone.
func (m *managers) setRunning(ctx context.Context, p *corev1.Pod) error {
	p = p.DeepCopy()
	now := metav1.Now()
	ip := m.ip.String()
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP, p.Status.HostIP = ip, ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.HostIPs = []corev1.HostIP{{IP: ip}}
	p.Status.StartTime = &now
	p.Status.Conditions = nil
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: managerApp, Image: p.Spec.Containers[0].Image, Ready: true, Started: new(true),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
	}}
	if _, err := m.s.kube.CoreV1().Pods(Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("set %s running: %w", p.Name, err)
	}
	return nil
}

func (m *managers) deletePod(ctx context.Context, name string) error {
	zero := int64(0)
	err := m.s.kube.CoreV1().Pods(Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// ensureService creates the longhorn-backend Service unless it exists.
func (m *managers) ensureService(ctx context.Context) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: managerService, Namespace: Namespace,
			Labels: map[string]string{"app": managerApp, "app.kubernetes.io/managed-by": fieldManager}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": managerApp},
			Ports: []corev1.ServicePort{{Name: managerPortName, Port: managerAPIPort, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromString(managerPortName)}},
		},
	}
	_, err := m.s.kube.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Endpoints lists each node's metrics address, for a Prometheus that
// scrapes the managers directly.
func (m *managers) Endpoints() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for node, ep := range m.endpoints {
		out[node] = net.JoinHostPort(m.ip.String(), strconv.Itoa(ep.port))
	}
	return out
}
