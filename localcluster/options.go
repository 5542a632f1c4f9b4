package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/client-go/rest"
)

// DefaultGOGC is Options.GOGC's default (see there), also the simulator's.
const DefaultGOGC = 200

// Options configure a local cluster. The zero value is usable: every default
// is filled in by withDefaults and nowhere else.
type Options struct {
	// Dir holds the cluster's state: pki/, kubeconfigs, etcd data, logs/ and
	// pids/. It is wiped (except for a running cluster, which is an error) at
	// start. Default: a new temporary folder, removed by Stop.
	Dir string
	// BinDir holds etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler, kwok and kubectl. Default: DefaultBinDir().
	BinDir string
	// Nodes is how many fake (KWOK) nodes to create, named node-1..node-N.
	// Default 3. Use a negative number for none.
	Nodes int
	// NodeCPU, NodeMemory and NodePods are each node's capacity.
	// Defaults "4", "8Gi" and "110", like the Longhorn seed cluster.
	NodeCPU, NodeMemory, NodePods string
	// Namespaces are created once the cluster is ready.
	// Default: ["longhorn-system"].
	Namespaces []string
	// Logger receives progress messages. The zero value logs nothing.
	Logger zerolog.Logger
	// StartTimeout bounds each readiness wait. Default 60s.
	StartTimeout time.Duration
	// StopGrace is how long a component gets between SIGTERM and SIGKILL.
	// Default 10s.
	StopGrace time.Duration
	// Detached starts the components in their own sessions, without
	// Pdeathsig, so they keep running after this process exits; stop them
	// with StopDir. Add-ons are not run in detached mode.
	Detached bool
	// GOGC is the Go garbage collector's target given to every component
	// (GOGC=N in its environment). Default DefaultGOGC, 200: the components share a
	// developer machine's few cores, and at the seed's 250 volumes GOGC 400
	// took 10% less control-plane CPU than Go's 100 for twice the memory
	// (localcluster/README.md); 200 leaves room for 10,000 volumes.
	// Use a negative number to leave the environment's GOGC alone.
	GOGC int
	// ExtraArgs adds command-line flags per component ("etcd",
	// "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok").
	ExtraArgs map[string][]string
	// Hooks run once, in order, after the nodes are Ready (e.g. installing
	// CRDs). An error fails Start.
	Hooks []func(ctx context.Context, cfg *rest.Config) error
	// DataDir holds CSI volumes' data, <DataDir>/<driver>/<volume handle>/,
	// which the nodes' exec endpoint binds into a pod that mounts the volume
	// while it is attached to the pod's node (package podexec); a CSI driver
	// simulator (longhornsim) makes and removes those folders. Default
	// <Dir>/csi-data.
	DataDir string
	// ExecServer, in detached mode, is the program and first arguments that
	// serve the nodes' kubelet endpoint (podexec.Flags are appended), e.g.
	// runner sim exec-server. Without it a detached cluster's pods cannot be
	// exec'd. Attached clusters serve it in this process.
	ExecServer []string
	// Addons are long-running in-process controllers (e.g. the Longhorn
	// simulator), started after the hooks and cancelled by Stop.
	Addons []Addon
}

// Addon is an in-process controller that runs until its context is
// cancelled.
type Addon struct {
	Name string
	Run  func(ctx context.Context, cfg *rest.Config) error
}

// withDefaults returns o with every unset field filled in, and reports
// whether Dir is a temporary folder the cluster owns.
func (o Options) withDefaults() (Options, bool, error) {
	ownDir := false
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "runner-cluster-")
		if err != nil {
			return o, false, fmt.Errorf("creating cluster folder: %w", err)
		}
		o.Dir, ownDir = d, true
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, ownDir, fmt.Errorf("resolving cluster folder %s: %w", o.Dir, err)
	}
	o.Dir = abs
	if o.BinDir == "" {
		d, err := DefaultBinDir()
		if err != nil {
			return o, ownDir, err
		}
		o.BinDir = d
	}
	if o.DataDir == "" {
		o.DataDir = filepath.Join(o.Dir, "csi-data")
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 0 {
		o.Nodes = 0
	}
	if o.NodeCPU == "" {
		o.NodeCPU = "4"
	}
	if o.NodeMemory == "" {
		o.NodeMemory = "8Gi"
	}
	if o.NodePods == "" {
		o.NodePods = "110"
	}
	if o.Namespaces == nil {
		o.Namespaces = []string{"longhorn-system"}
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.GOGC == 0 {
		o.GOGC = DefaultGOGC
	}
	if o.StopGrace == 0 {
		o.StopGrace = 10 * time.Second
	}
	return o, ownDir, nil
}
