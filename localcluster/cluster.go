package localcluster

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

//go:embed stages/*.yaml
var stagesFS embed.FS

// Cluster is a running local control plane. Its methods are safe to call
// from several goroutines.
type Cluster struct {
	opts       Options
	ownDir     bool
	ports      ports
	kubeconfig string
	cfg        *rest.Config

	mu    sync.Mutex
	procs []*process // start order

	addonCancel context.CancelFunc
	addonWG     sync.WaitGroup
	addonErrs   chan error

	// execStop stops the in-process exec server (attached mode).
	execStop func()
}

// component is one control-plane process to start.
type component struct {
	name    string
	args    []string
	env     []string // nil: inherit
	ready   func(context.Context) error
	barrier bool // wait for it, and those started before it, before going on
}

// ports are the loopback ports of one cluster, chosen free at start.
type ports struct {
	etcdClient, etcdPeer, apiserver, kcm, scheduler, kwok, kubelet int
}

// Kubeconfig returns the path of the admin kubeconfig (user in system:masters).
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RESTConfig returns a copy of the admin REST config.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.cfg) }

// Dir returns the cluster's state folder.
func (c *Cluster) Dir() string { return c.opts.Dir }

// DataDir returns the folder of CSI volumes' data (Options.DataDir).
func (c *Cluster) DataDir() string { return c.opts.DataDir }

// Start brings up etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, waits until each is healthy, creates the
// namespaces and nodes, waits for the nodes to be Ready, then runs the hooks
// and add-ons. If any step fails, what already started is stopped.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	began := time.Now()
	opts, ownDir, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, ownDir: ownDir}
	log := opts.Logger
	if err := CheckBinDir(opts.BinDir); err != nil {
		c.cleanupDir()
		return nil, err
	}
	if err := c.prepareDir(); err != nil {
		c.cleanupDir()
		return nil, err
	}
	fail := func(err error) (*Cluster, error) {
		if serr := c.stopAll(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, fmt.Errorf("stopping after failed start: %w", serr))
		}
		c.cleanupDir()
		return nil, err
	}
	if err := c.pickPorts(); err != nil {
		return fail(err)
	}
	p, err := generatePKI(filepath.Join(opts.Dir, "pki"))
	if err != nil {
		return fail(fmt.Errorf("generating PKI: %w", err))
	}
	server := "https://127.0.0.1:" + strconv.Itoa(c.ports.apiserver)
	c.kubeconfig = filepath.Join(opts.Dir, "kubeconfig")
	for _, id := range clientIdentities {
		path := filepath.Join(opts.Dir, "kubeconfigs", id.file+".kubeconfig")
		if id.file == "admin" {
			path = c.kubeconfig
		}
		if err := writeKubeconfig(path, server, p, id.file); err != nil {
			return fail(err)
		}
	}
	kwokConfig := filepath.Join(opts.Dir, "kwok.yaml")
	if err := writeStages(kwokConfig); err != nil {
		return fail(err)
	}
	c.cfg, err = adminConfig(server, p)
	if err != nil {
		return fail(err)
	}
	if err := c.startExecServer(ctx, p); err != nil {
		return fail(err)
	}
	log.Info().Str("dir", opts.Dir).Int("apiserver_port", c.ports.apiserver).Msg("starting local cluster")

	// etcd and the apiserver must be ready before the next one starts; the
	// controllers and kwok start together and are then waited for in order.
	steps := []component{
		{compEtcd, c.etcdArgs(), scrubEnv(os.Environ(), "ETCD_"), httpCheck(nil, fmt.Sprintf("http://127.0.0.1:%d/health", c.ports.etcdClient)), true},
		{compAPIServer, c.apiserverArgs(p), os.Environ(), c.restCheck("/readyz"), true},
		{compKCM, c.kcmArgs(p), os.Environ(), httpCheck(insecureClient(), fmt.Sprintf("https://127.0.0.1:%d/healthz", c.ports.kcm)), false},
		{compScheduler, c.schedulerArgs(), os.Environ(), httpCheck(insecureClient(), fmt.Sprintf("https://127.0.0.1:%d/healthz", c.ports.scheduler)), false},
		{compKWOK, c.kwokArgs(kwokConfig), os.Environ(), httpCheck(nil, fmt.Sprintf("http://127.0.0.1:%d/healthz", c.ports.kwok)), true},
	}
	if opts.GOGC > 0 {
		for i := range steps {
			steps[i].env = append(scrubEnv(steps[i].env, "GOGC="), fmt.Sprintf("GOGC=%d", opts.GOGC))
		}
	}
	var pending []*process
	var checks []func(context.Context) error
	for _, s := range steps {
		proc := &process{
			name:     s.name,
			path:     filepath.Join(opts.BinDir, s.name),
			args:     append(s.args, opts.ExtraArgs[s.name]...),
			env:      s.env,
			logPath:  filepath.Join(opts.Dir, "logs", s.name+".log"),
			pidPath:  filepath.Join(opts.Dir, "pids", s.name+".pid"),
			detached: opts.Detached,
			ready:    s.ready,
		}
		if err := proc.start(); err != nil {
			return fail(err)
		}
		c.mu.Lock()
		c.procs = append(c.procs, proc)
		c.mu.Unlock()
		log.Debug().Str("component", s.name).Int("pid", proc.pid()).Msg("started")
		pending, checks = append(pending, proc), append(checks, s.ready)
		if !s.barrier {
			continue
		}
		for i, w := range pending {
			if err := c.waitProc(ctx, w, checks[i]); err != nil {
				return fail(err)
			}
		}
		pending, checks = nil, nil
	}
	if err := c.setupObjects(ctx); err != nil {
		return fail(err)
	}
	for i, h := range opts.Hooks {
		if err := h(ctx, c.RESTConfig()); err != nil {
			return fail(fmt.Errorf("hook %d: %w", i, err))
		}
	}
	if !opts.Detached {
		c.startAddons()
	}
	log.Info().Stringer("took", time.Since(began).Round(time.Millisecond)).Str("kubeconfig", c.kubeconfig).Msg("local cluster ready")
	return c, nil
}

func (c *Cluster) waitProc(ctx context.Context, p *process, ready func(context.Context) error) error {
	wctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	t := time.Now()
	if err := p.waitReady(wctx, ready); err != nil {
		return err
	}
	c.opts.Logger.Debug().Str("component", p.name).Stringer("took", time.Since(t).Round(time.Millisecond)).Msg("ready")
	return nil
}

// StartProcess starts an extra process (e.g. an add-on running as its own
// program) with the cluster's conventions: log in <Dir>/logs/<name>.log, pid
// in <Dir>/pids/<name>.pid, detached when the cluster is. Stop stops it
// first. It fails if the process exits within the first second.
func (c *Cluster) StartProcess(ctx context.Context, name, path string, args ...string) error {
	proc := &process{
		name:     name,
		path:     path,
		args:     args,
		logPath:  filepath.Join(c.opts.Dir, "logs", name+".log"),
		pidPath:  filepath.Join(c.opts.Dir, "pids", name+".pid"),
		detached: c.opts.Detached,
	}
	if err := proc.start(); err != nil {
		return err
	}
	c.mu.Lock()
	c.procs = append(c.procs, proc)
	c.mu.Unlock()
	select {
	case <-proc.exited:
		return proc.exitedError()
	case <-time.After(time.Second):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop cancels the add-ons, stops every process in reverse start order
// (SIGTERM, then SIGKILL after Options.StopGrace) and removes the state
// folder if Start created it. It returns every error met, including add-ons
// that failed while running.
func (c *Cluster) Stop(ctx context.Context) error {
	var errs []error
	if c.addonCancel != nil {
		c.addonCancel()
		c.addonWG.Wait()
		close(c.addonErrs)
		for err := range c.addonErrs {
			errs = append(errs, err)
		}
		c.addonCancel = nil
	}
	if err := c.stopAll(ctx); err != nil {
		errs = append(errs, err)
	}
	c.cleanupDir()
	c.opts.Logger.Info().Str("dir", c.opts.Dir).Msg("local cluster stopped")
	return errors.Join(errs...)
}

// Kill sends SIGKILL to the component named (e.g. "kube-apiserver",
// "etcd") and waits until it has exited, for fault-injection tests. Restart
// starts it again.
func (c *Cluster) Kill(name string) error {
	p, err := c.proc(name)
	if err != nil {
		return err
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending SIGKILL to %s: %w", name, err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 5s after SIGKILL", name, p.pid())
	}
}

// Restart starts again, with the same arguments, a component that Kill
// stopped (or that died), and waits until it is healthy.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	old, err := c.proc(name)
	if err != nil {
		return err
	}
	select {
	case <-old.exited:
	default:
		return fmt.Errorf("%s is still running", name)
	}
	p := &process{name: old.name, path: old.path, args: old.args, env: old.env, logPath: old.logPath, pidPath: old.pidPath, detached: old.detached, ready: old.ready}
	if err := p.start(); err != nil {
		return err
	}
	c.mu.Lock()
	for i, q := range c.procs {
		if q == old {
			c.procs[i] = p
		}
	}
	c.mu.Unlock()
	if p.ready == nil {
		return nil
	}
	return c.waitProc(ctx, p, p.ready)
}

func (c *Cluster) proc(name string) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.name == name && p.cmd != nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no component %q in this cluster", name)
}

func (c *Cluster) stopAll(ctx context.Context) error {
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	c.procs = nil
	execStop := c.execStop
	c.execStop = nil
	c.mu.Unlock()
	if execStop != nil {
		execStop()
	}
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].stop(ctx, c.opts.StopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) startAddons() {
	if len(c.opts.Addons) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.addonCancel = cancel
	c.addonErrs = make(chan error, len(c.opts.Addons))
	for _, a := range c.opts.Addons {
		c.addonWG.Add(1)
		go func() {
			defer c.addonWG.Done()
			err := a.Run(ctx, c.RESTConfig())
			if err != nil && !errors.Is(err, context.Canceled) {
				c.opts.Logger.Error().Err(err).Str("addon", a.Name).Msg("add-on failed")
				c.addonErrs <- fmt.Errorf("add-on %s: %w", a.Name, err)
			}
		}()
	}
}

// prepareDir refuses a folder where a cluster still runs and wipes the
// state of a previous one.
func (c *Cluster) prepareDir() error {
	procs, err := ReadPIDs(c.opts.Dir)
	if err != nil {
		return err
	}
	for _, p := range procs {
		if p.Alive {
			return fmt.Errorf("a cluster is still running in %s (%s pid %d): stop it first", c.opts.Dir, p.Name, p.Pid)
		}
	}
	for _, sub := range []string{"etcd", "pki", "kubeconfigs", "logs", "pids", "kubeconfig", "kwok.yaml", "kcm-certs", "scheduler-certs", "apiserver-certs", "exec", "csi-data"} {
		if err := os.RemoveAll(filepath.Join(c.opts.Dir, sub)); err != nil {
			return fmt.Errorf("cleaning %s: %w", c.opts.Dir, err)
		}
	}
	if err := os.MkdirAll(c.opts.Dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", c.opts.Dir, err)
	}
	return nil
}

func (c *Cluster) cleanupDir() {
	if c.ownDir && !c.opts.Detached {
		_ = os.RemoveAll(c.opts.Dir)
	}
}

// pickPorts reserves distinct free loopback ports. They are released before
// the components bind them, so a race with another program is possible but
// rare; two clusters started by one process never get the same ports.
func (c *Cluster) pickPorts() error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ps := make([]int, 7)
	for i := range ps {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ps[i] = l.Addr().(*net.TCPAddr).Port
	}
	c.ports = ports{etcdClient: ps[0], etcdPeer: ps[1], apiserver: ps[2], kcm: ps[3], scheduler: ps[4], kwok: ps[5], kubelet: ps[6]}
	return nil
}

func (c *Cluster) etcdArgs() []string {
	client := fmt.Sprintf("http://127.0.0.1:%d", c.ports.etcdClient)
	peer := fmt.Sprintf("http://127.0.0.1:%d", c.ports.etcdPeer)
	return []string{
		"--name=default",
		"--data-dir=" + filepath.Join(c.opts.Dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=default=" + peer,
		"--unsafe-no-fsync=true", // throwaway data: speed over durability
		"--log-level=warn",
	}
}

func (c *Cluster) apiserverArgs(p pki) []string {
	return []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", c.ports.etcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", c.ports.apiserver),
		"--cert-dir=" + filepath.Join(c.opts.Dir, "apiserver-certs"),
		"--tls-cert-file=" + p.path(apiserverCert),
		"--tls-private-key-file=" + p.path(apiserverKey),
		"--client-ca-file=" + p.path(caCert),
		"--service-account-key-file=" + p.path(serviceAccountPub),
		"--service-account-signing-key-file=" + p.path(serviceAccountKey),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// A loopback address cannot be an endpoint of the kubernetes Service.
		"--endpoint-reconciler-type=none",
		"--requestheader-client-ca-file=" + p.path(frontProxyCACert),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p.path(frontProxyCert),
		"--proxy-client-key-file=" + p.path(frontProxyKey),
		// exec, logs, attach and port-forward go to the nodes' kubelet
		// endpoint (package podexec) at their InternalIP, 127.0.0.1, and
		// port (KWOK's --node-port); both sides check the other's certificate.
		"--kubelet-client-certificate=" + p.path(kubeletClientCert),
		"--kubelet-client-key=" + p.path(kubeletClientKey),
		"--kubelet-certificate-authority=" + p.path(caCert),
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
	}
}

func (c *Cluster) kcmArgs(p pki) []string {
	kc := filepath.Join(c.opts.Dir, "kubeconfigs", "controller-manager.kubeconfig")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", c.ports.kcm),
		"--cert-dir=" + filepath.Join(c.opts.Dir, "kcm-certs"),
		"--controllers=*",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.path(serviceAccountKey),
		"--root-ca-file=" + p.path(caCert),
		"--cluster-signing-cert-file=" + p.path(caCert),
		"--cluster-signing-key-file=" + p.path(caKey),
		// The default 20 QPS throttles the start of the per-controller
		// service accounts (about 5s); a local apiserver takes far more.
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--leader-elect=false",
		"--profiling=false",
	}
}

func (c *Cluster) schedulerArgs() []string {
	kc := filepath.Join(c.opts.Dir, "kubeconfigs", "scheduler.kubeconfig")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", c.ports.scheduler),
		"--cert-dir=" + filepath.Join(c.opts.Dir, "scheduler-certs"),
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--leader-elect=false",
		"--profiling=false",
	}
}

// nodeLeaseSeconds is the duration KWOK writes on each node's Lease in
// kube-node-lease. KWOK renews a Lease every quarter of it (10s, 4% jitter),
// as the kubelet does: KubeletConfiguration nodeLeaseDurationSeconds defaults
// to 40 and pkg/kubelet/kubelet.go renews at nodeLeaseRenewIntervalFraction
// 0.25; KWOK copies both in pkg/kwok/controllers/controller.go
// (initNodeLeaseController), and kwokctl passes 40 by default. The node
// lifecycle controller counts a renewed Lease as a heartbeat
// (pkg/controller/nodelifecycle/node_lifecycle_controller.go,
// tryUpdateNodeHealth), so the nodes stay Ready.
//
// The plain kwok binary defaults to 0, which means no Leases at all: then the
// only heartbeat is the node-heartbeat-with-lease stage, every 10 to 20
// minutes, and kcm marks every node NotReady after its
// --node-monitor-grace-period (50s), enters "master disruption mode" and marks
// the pods not Ready.
const nodeLeaseSeconds = 40

func (c *Cluster) kwokArgs(config string) []string {
	return []string{
		"--kubeconfig=" + filepath.Join(c.opts.Dir, "kubeconfigs", "kwok.kubeconfig"),
		"--config=" + config,
		"--node-lease-duration-seconds=" + strconv.Itoa(nodeLeaseSeconds),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		fmt.Sprintf("--server-address=127.0.0.1:%d", c.ports.kwok),
		// The port the nodes advertise (daemonEndpoints.kubeletEndpoint), where
		// the API server sends exec and logs: package podexec, which passes all
		// but exec on to KWOK's server above. Without it the API server dials
		// 10250 and every exec and log request is refused.
		fmt.Sprintf("--node-port=%d", c.ports.kubelet),
		"--cidr=10.244.0.0/16",
		"--node-ip=127.0.0.1",
	}
}

// writeStages writes the embedded KWOK stages as one multi-document file.
func writeStages(path string) error {
	files, err := fs.Glob(stagesFS, "stages/*.yaml")
	if err != nil {
		return fmt.Errorf("listing KWOK stages: %w", err)
	}
	var b strings.Builder
	for _, f := range files {
		data, err := stagesFS.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading KWOK stage %s: %w", f, err)
		}
		b.WriteString("---\n")
		b.Write(data)
		if !strings.HasSuffix(b.String(), "\n") {
			b.WriteString("\n")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing KWOK config: %w", err)
	}
	return nil
}

func adminConfig(server string, p pki) (*rest.Config, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(p.path(name))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		return b, nil
	}
	ca, err := read(caCert)
	if err != nil {
		return nil, err
	}
	crt, err := read("admin.crt")
	if err != nil {
		return nil, err
	}
	key, err := read("admin.key")
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            server,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca, CertData: crt, KeyData: key},
		QPS:             100,
		Burst:           200,
	}, nil
}

func insecureClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

// httpCheck succeeds when GET url answers 200.
func httpCheck(client *http.Client, url string) func(context.Context) error {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// restCheck GETs path on the apiserver as admin.
func (c *Cluster) restCheck(path string) func(context.Context) error {
	var once sync.Once
	var client *http.Client
	var cerr error
	return func(ctx context.Context) error {
		once.Do(func() { client, cerr = rest.HTTPClientFor(c.cfg) })
		if cerr != nil {
			return cerr
		}
		return httpCheck(client, c.cfg.Host+path)(ctx)
	}
}
