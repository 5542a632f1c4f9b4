package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/scenario-runner/runner/localcluster"
	"github.com/scenario-runner/runner/localcluster/podexec"
	"github.com/scenario-runner/runner/longhornsim"
)

// longhornModes are the accepted values of --longhorn-mode / --mode.
var longhornModes = []string{longhornsim.ModeDefault, longhornsim.ModeLegacyQueueJam}

// longhornCRDChoices are the accepted values of --longhorn-crds.
var longhornCRDChoices = []string{longhornsim.CRDsInstall, longhornsim.CRDsKeep}

// longhornProcess names the detached simulator's log and pid files.
const longhornProcess = "longhorn-sim"

// SimDeps are what the sim command needs besides package localcluster: the
// Longhorn simulator. Tests swap them to run the command without it.
type SimDeps struct {
	// Logger for progress. Nil: a console logger on stderr.
	Logger *zerolog.Logger
	// InstallLonghornCRDs installs the Longhorn CRDs as --longhorn-crds says
	// (longhornsim.Install).
	InstallLonghornCRDs func(ctx context.Context, cfg *rest.Config, crds string) error
	// RunLonghorn runs the Longhorn simulator until ctx ends
	// RunLonghorn runs the Longhorn simulator until ctx ends
	// (longhornsim.Run with Options{Mode: mode, CRDs: crds, DataDir: dataDir,
	// MetricsVersion: metricsVersion, Logger: log}).
	RunLonghorn func(ctx context.Context, cfg *rest.Config, mode, crds, dataDir, metricsVersion string, log zerolog.Logger) error
}

// newSimCommand is `sim` wired to the Longhorn simulator.
func newSimCommand() *cobra.Command {
	return NewSimCommand(SimDeps{
		InstallLonghornCRDs: longhornsim.Install,
		RunLonghorn: func(ctx context.Context, cfg *rest.Config, mode, crds, dataDir, metricsVersion string, log zerolog.Logger) error {
			return longhornsim.Run(ctx, cfg, longhornsim.Options{Mode: mode, CRDs: crds, DataDir: dataDir, MetricsVersion: metricsVersion, Logger: log})
		},
	})
}

// NewSimCommand returns `sim` with subcommands up, down, status and
// longhorn, which manage a detached local cluster in a folder (default .sim)
// with package localcluster and run the Longhorn simulator against it.
func NewSimCommand(deps SimDeps) *cobra.Command {
	if deps.Logger == nil {
		l := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger().Level(zerolog.InfoLevel)
		deps.Logger = &l
	}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a local Kubernetes cluster with fake nodes and a simulated Longhorn",
		Long: `sim runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
KWOK on loopback ports, with fake nodes, and optionally the Longhorn simulator.
Binaries come from ` + "`make cluster-bins`" + ` (see localcluster/README.md).

To run the simulator with Longhorn's own CRDs: sim up --no-longhorn, apply
them (kubectl apply -f longhorn's deploy/longhorn.yaml CRDs), then
sim longhorn --longhorn-crds=keep --kubeconfig DIR/kubeconfig.`,
		SilenceUsage: true,
	}
	cmd.AddCommand(newUpCommand(deps), newDownCommand(deps), newStatusCommand(), newLonghornCommand(deps), newExecServerCommand(deps))
	return cmd
}

func newUpCommand(deps SimDeps) *cobra.Command {
	var (
		dir        string
		nodes      int
		mode       string
		crds       string
		noLonghorn bool
		prometheus bool
		metricsVer string
		gogc       int
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a detached local cluster and return once it is ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(longhornModes, mode) {
				return fmt.Errorf("--longhorn-mode %q: valid values are %s", mode, strings.Join(longhornModes, ", "))
			}
			if !slices.Contains(longhornCRDChoices, crds) {
				return fmt.Errorf("--longhorn-crds %q: valid values are %s", crds, strings.Join(longhornCRDChoices, ", "))
			}
			if nodes < 1 {
				return fmt.Errorf("--nodes %d: need at least 1", nodes)
			}
			if !noLonghorn && (deps.RunLonghorn == nil || deps.InstallLonghornCRDs == nil) {
				return errors.New("this build has no Longhorn simulator wired in; use --no-longhorn")
			}
			ctx := cmd.Context()
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("locating own executable: %w", err)
			}
			// The nodes' exec endpoint is this binary: `<path to sim> exec-server ...`.
			simPath := strings.Fields(cmd.Parent().CommandPath())[1:]
			opts := localcluster.Options{Dir: dir, Nodes: nodes, Logger: *deps.Logger, Detached: true, StartTimeout: timeout, GOGC: gogc,
				ExecServer: append(append([]string{exe}, simPath...), "exec-server")}
			if !noLonghorn {
				opts.Hooks = append(opts.Hooks, func(ctx context.Context, cfg *rest.Config) error {
					return deps.InstallLonghornCRDs(ctx, cfg, crds)
				})
			}
			c, err := localcluster.Start(ctx, opts)
			if err != nil {
				return err
			}
			if !noLonghorn {
				// Re-run this binary as `<path to sim> longhorn ...`, whatever the root is called.
				args := append(simPath, "longhorn", "--kubeconfig", c.Kubeconfig(), "--mode", mode, "--longhorn-crds", crds, "--data-dir", c.DataDir(),
					"--metrics-version", metricsVer)
				if err := c.StartProcess(ctx, longhornProcess, exe, args...); err != nil {
					return errors.Join(fmt.Errorf("starting the Longhorn simulator: %w", err), localcluster.StopDir(ctx, c.Dir(), 10*time.Second))
				}
			}
			var promURL string
			if prometheus {
				bin, err := localcluster.PrometheusBin()
				if err == nil {
					promURL, err = c.StartPrometheus(ctx, bin)
				}
				if err != nil {
					return errors.Join(fmt.Errorf("--prometheus: %w", err), localcluster.StopDir(ctx, c.Dir(), 10*time.Second))
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "kubeconfig: %s\n", c.Kubeconfig())
			if promURL != "" {
				fmt.Fprintf(out, "prometheus: %s (scrapes the API server and every longhorn-manager pod every 2s)\n", promURL)
			}
			fmt.Fprintf(out, "logs: %s\n", filepath.Join(c.Dir(), "logs"))
			fmt.Fprintf(out, "export KUBECONFIG=%s\n", c.Kubeconfig())
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".sim", "folder for the cluster's state, logs and pid files")
	cmd.Flags().IntVar(&nodes, "nodes", 3, "number of fake nodes (node-1..node-N)")
	cmd.Flags().StringVar(&mode, "longhorn-mode", "default", "Longhorn simulator mode: "+strings.Join(longhornModes, "|"))
	cmd.Flags().StringVar(&crds, "longhorn-crds", longhornsim.CRDsInstall, longhornCRDsHelp)
	cmd.Flags().BoolVar(&noLonghorn, "no-longhorn", false, "do not install the Longhorn CRDs nor run the simulator")
	cmd.Flags().StringVar(&metricsVer, "longhorn-metrics-version", longhornsim.DefaultMetricsVersion, metricsVersionHelp)
	cmd.Flags().BoolVar(&prometheus, "prometheus", false, "also run Prometheus (built by `make prometheus-bin`), scraping the API server and the longhorn-manager pods; its URL is printed and written to DIR/prometheus/url")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long each readiness wait may take")
	cmd.Flags().IntVar(&gogc, "gogc", 0, fmt.Sprintf("GOGC of every component (0: localcluster's default, %d; negative: the environment's)", localcluster.DefaultGOGC))
	return cmd
}

const metricsVersionHelp = `Longhorn release whose metrics the simulated managers export: ` +
	`before 1.3 no longhorn_workqueue_*, before 1.9 no engine or replica metrics, from 1.11 volume state and robustness labelled`

const longhornCRDsHelp = `Longhorn CRDs: "install" applies the simulator's own (replacing installed ones), ` +
	`"keep" leaves CRDs already installed alone (e.g. Longhorn's) and installs only missing ones`

func newDownCommand(deps SimDeps) *cobra.Command {
	var (
		dir   string
		grace time.Duration
	)
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the cluster started by up (reverse order, SIGTERM then SIGKILL); safe to run twice",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			procs, err := localcluster.ReadPIDs(dir)
			if err != nil {
				return err
			}
			if err := localcluster.StopDir(cmd.Context(), dir, grace); err != nil {
				return err
			}
			n := 0
			for _, p := range procs {
				if p.Alive {
					n++
				}
			}
			deps.Logger.Info().Str("dir", dir).Int("stopped", n).Msg("local cluster down")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".sim", "folder given to up")
	cmd.Flags().DurationVar(&grace, "grace", 10*time.Second, "time between SIGTERM and SIGKILL")
	return cmd
}

func newStatusCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's processes and whether the apiserver is ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			procs, err := localcluster.ReadPIDs(dir)
			if err != nil {
				return err
			}
			if len(procs) == 0 {
				return fmt.Errorf("no cluster in %s (no pid files)", dir)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COMPONENT\tPID\tSTATE")
			var dead []string
			for i := len(procs) - 1; i >= 0; i-- { // start order
				p := procs[i]
				state := "running"
				if !p.Alive {
					state, dead = "dead", append(dead, p.Name)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Name, p.Pid, state)
			}
			ready := apiserverReady(cmd.Context(), filepath.Join(dir, "kubeconfig"))
			readyText := "ready"
			if ready != nil {
				readyText = "not ready: " + ready.Error()
			}
			fmt.Fprintf(tw, "apiserver\t\t%s\n", readyText)
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(dead) > 0 || ready != nil {
				return fmt.Errorf("cluster in %s is not healthy", dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".sim", "folder given to up")
	return cmd
}

func apiserverReady(ctx context.Context, kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading %s: %w", kubeconfig, err)
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	return nil
}

func newLonghornCommand(deps SimDeps) *cobra.Command {
	var kubeconfig, mode, crds, pprofAddr, dataDir, metricsVersion string
	cmd := &cobra.Command{
		Use:   "longhorn",
		Short: "Run the Longhorn simulator against a cluster until interrupted (started by up)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if deps.RunLonghorn == nil {
				return errors.New("this build has no Longhorn simulator wired in")
			}
			if !slices.Contains(longhornModes, mode) {
				return fmt.Errorf("--mode %q: valid values are %s", mode, strings.Join(longhornModes, ", "))
			}
			if !slices.Contains(longhornCRDChoices, crds) {
				return fmt.Errorf("--longhorn-crds %q: valid values are %s", crds, strings.Join(longhornCRDChoices, ", "))
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			if pprofAddr != "" {
				stopProfiling, err := serveProfiles(pprofAddr, *deps.Logger)
				if err != nil {
					return err
				}
				defer stopProfiling()
			}
			if os.Getenv("GOGC") == "" {
				// As for the control plane's components (localcluster.Options.GOGC).
				debug.SetGCPercent(localcluster.DefaultGOGC)
			}
			err = deps.RunLonghorn(ctx, cfg, mode, crds, dataDir, metricsVersion, *deps.Logger)
			if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	cmd.Flags().StringVar(&mode, "mode", "default", "simulator mode: "+strings.Join(longhornModes, "|"))
	cmd.Flags().StringVar(&crds, "longhorn-crds", longhornsim.CRDsInstall, longhornCRDsHelp)
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "folder of the volumes' data, which the cluster's exec endpoint mounts into pods (sim up: DIR/csi-data); empty: volumes keep no data")
	cmd.Flags().StringVar(&metricsVersion, "metrics-version", longhornsim.DefaultMetricsVersion, metricsVersionHelp)
	cmd.Flags().StringVar(&pprofAddr, "pprof", "", "serve Go's profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060")
	_ = cmd.Flags().MarkHidden("pprof")
	return cmd
}

// serveProfiles serves net/http/pprof's handlers on addr, a loopback
// address, for finding where the simulator spends its time at scale.
func serveProfiles(addr string, log zerolog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
		return nil, fmt.Errorf("--pprof %q: want a loopback host:port such as 127.0.0.1:6060", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info().Str("url", "http://"+ln.Addr().String()+"/debug/pprof/").Msg("serving profiles")
	return func() { _ = srv.Close() }, nil
}

// newExecServerCommand is the hidden `sim exec-server` that `up` starts:
// the nodes' kubelet endpoint, serving exec confined (package podexec).
func newExecServerCommand(deps SimDeps) *cobra.Command {
	var f podexec.Flags
	cmd := &cobra.Command{
		Use:    "exec-server",
		Short:  "Serve the fake nodes' kubelet endpoint: exec confined, the rest passed to KWOK (started by up)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := clientcmd.BuildConfigFromFlags("", f.Kubeconfig)
			if err != nil {
				return fmt.Errorf("loading kubeconfig %s: %w", f.Kubeconfig, err)
			}
			f.Config, f.Logger = cfg, *deps.Logger
			srv, err := podexec.Listen(f.Options)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			deps.Logger.Info().Str("listen", srv.Addr()).Msg("serving the nodes' kubelet endpoint")
			return srv.Serve(ctx)
		},
	}
	f.Bind(cmd.Flags())
	return cmd
}
