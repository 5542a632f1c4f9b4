// Package clustertest gives a test binary one shared local cluster.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }
//
// and call Config(t) or Kubeconfig(t) in integration tests. The cluster is
// started on the first such call (so a run that selects no integration test
// pays nothing), shared by every test of the binary, and stopped when Main
// returns. With -short, Config and Kubeconfig skip the test. When $KUBECONFIG
// is set, that cluster is used and nothing is started (beware: tests may
// create and delete objects there).
//
// If the cluster binaries are missing, Main runs localcluster/build.sh once
// (several minutes, cold) unless RUNNER_CLUSTER_NO_BUILD is set, in which case
// tests fail with a message saying to run `make cluster-bins`.
//
// Nothing outlives the test binary: the children are killed with Pdeathsig
// when the process dies, even after a panic or a test timeout, and SIGINT or
// SIGTERM stop the cluster before exiting.
//
// It keeps the shared cluster in package state: that is the point of a
// per-binary TestMain helper, and the only package state it has.
package clustertest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/scenario-runner/runner/localcluster"
)

// shared is the one cluster of this test binary.
type shared struct {
	opts localcluster.Options

	once       sync.Once
	cluster    *localcluster.Cluster
	cfg        *rest.Config
	kubeconfig string
	err        error
}

var (
	mu      sync.Mutex
	current *shared
)

// Main runs the tests of m with a shared cluster using default Options
// (3 nodes, progress logged on stderr) and returns the exit code for os.Exit.
func Main(m *testing.M) int {
	return MainWithOptions(m, localcluster.Options{
		Logger: zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).
			With().Timestamp().Str("from", "clustertest").Logger().Level(zerolog.InfoLevel),
	})
}

// MainWithOptions is Main with explicit cluster options (a zero Logger logs
// nothing).
func MainWithOptions(m *testing.M, opts localcluster.Options) (code int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	s := &shared{opts: opts}
	mu.Lock()
	current = s
	mu.Unlock()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "clustertest: %v: stopping the cluster\n", sig)
			s.stop()
			os.Exit(130)
		case <-done:
		}
	}()
	defer func() {
		signal.Stop(sigs)
		if r := recover(); r != nil {
			s.stop()
			panic(r)
		}
		if err := s.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "clustertest: stopping the cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}()
	return m.Run()
}

// Config returns the admin REST config of the shared cluster, starting it on
// first use. It skips t under -short and fails t if the cluster cannot start.
func Config(t testing.TB) *rest.Config {
	t.Helper()
	s := get(t)
	return rest.CopyConfig(s.cfg)
}

// Kubeconfig returns the path of the shared cluster's admin kubeconfig.
func Kubeconfig(t testing.TB) string {
	t.Helper()
	return get(t).kubeconfig
}

// Cluster returns the shared cluster, or nil when $KUBECONFIG names an
// external one.
func Cluster(t testing.TB) *localcluster.Cluster {
	t.Helper()
	return get(t).cluster
}

func get(t testing.TB) *shared {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the local cluster, skipped with -short")
	}
	mu.Lock()
	s := current
	mu.Unlock()
	if s == nil {
		t.Fatal("clustertest: no shared cluster; call clustertest.Main from TestMain")
	}
	s.once.Do(s.start)
	if s.err != nil {
		t.Fatalf("clustertest: %v", s.err)
	}
	return s
}

func (s *shared) start() {
	if kc := os.Getenv("KUBECONFIG"); kc != "" {
		s.kubeconfig = kc
		s.cfg, s.err = clientcmd.BuildConfigFromFlags("", kc)
		if s.err != nil {
			s.err = fmt.Errorf("loading $KUBECONFIG %s: %w", kc, s.err)
		}
		return
	}
	if s.opts.BinDir == "" {
		d, err := localcluster.DefaultBinDir()
		if err != nil {
			s.err = err
			return
		}
		s.opts.BinDir = d
	}
	if err := localcluster.CheckBinDir(s.opts.BinDir); err != nil {
		if os.Getenv("RUNNER_CLUSTER_NO_BUILD") != "" {
			s.err = err
			return
		}
		if berr := build(); berr != nil {
			s.err = fmt.Errorf("%w; building them failed: %v", err, berr)
			return
		}
	}
	removeLeftovers()
	s.cluster, s.err = localcluster.Start(context.Background(), s.opts)
	if s.err == nil {
		s.cfg = s.cluster.RESTConfig()
		s.kubeconfig = s.cluster.Kubeconfig()
	}
}

func (s *shared) stop() error {
	mu.Lock()
	defer mu.Unlock()
	if s.cluster == nil {
		return nil
	}
	c := s.cluster
	s.cluster = nil
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.Stop(ctx)
}

// build runs localcluster/build.sh, found next to this source file or by
// walking up from the working directory to the runner module.
func build() error {
	script, err := buildScript()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "clustertest: cluster binaries missing, running %s (cold build takes ~7 min; or run `make cluster-bins`)\n", script)
	cmd := exec.Command(script)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running %s: %w", script, err)
	}
	return nil
}

func buildScript() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		p := filepath.Join(filepath.Dir(file), "..", "build.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(gomod), "module github.com/scenario-runner/runner\n") {
			return filepath.Join(dir, "localcluster", "build.sh"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find localcluster/build.sh: run `make cluster-bins` from the runner repository")
		}
		dir = parent
	}
}

// removeLeftovers deletes temporary cluster folders left by test binaries
// that died (a panic or timeout kills the children via Pdeathsig but skips
// cleanup): those whose pid files all name dead processes.
func removeLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "runner-cluster-*"))
	for _, d := range dirs {
		procs, err := localcluster.ReadPIDs(d)
		if err != nil || len(procs) == 0 {
			continue // unknown, or a cluster being set up right now
		}
		alive := false
		for _, p := range procs {
			alive = alive || p.Alive
		}
		if !alive {
			_ = os.RemoveAll(d)
		}
	}
}
