package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/client-go/rest"

	"github.com/scenario-runner/runner/bench"
	"github.com/scenario-runner/runner/localcluster"
	"github.com/scenario-runner/runner/longhornsim"
)

// driver holds what every suite uses.
type driver struct {
	cfg        config
	log        zerolog.Logger
	cluster    *localcluster.Cluster
	kubeconfig string
	kube       *kube
	self       string // this binary, for createloop
	res        *bench.Results
	// host samples taken around every trial, for the load summary.
	foreign, load1 []float64
}

// run checks the tools, waits for a quiet machine, starts the cluster, runs
// the suites and writes the results, also when a suite fails or time runs
// out.
func run(ctx context.Context, cfg config, log zerolog.Logger) (err error) {
	start := time.Now()
	d := &driver{cfg: cfg, log: log, res: &bench.Results{
		Date: start.Format("2006-01-02"), Start: start, Machine: bench.ReadMachine(),
		Versions: map[string]string{}, Commands: map[string]string{}, Suites: map[string]int{},
	}}
	d.res.Settings = bench.Settings{
		Rounds: cfg.rounds, ChainsawApplyRounds: cfg.chainsawApplyRounds, Parallel: cfg.parallel, QPS: cfg.qps, Burst: cfg.burst,
		WaitTrials: cfg.waitTrials, KubectlTrials: cfg.kubectlTrials, WaitSizes: cfg.waitSizes,
		APILoadSeconds: int(cfg.apiLoadFor.Seconds()), APILoadObjects: cfg.apiLoadObjects,
		MemoryObjects: cfg.memObjects, MemoryRounds: cfg.memRounds, SeedReplicas: cfg.seedReplicas,
		LargeObjects: cfg.largeObjects, LargeTail: cfg.largeTail, LargeTrials: cfg.largeTrials, LargeChainsawTrials: cfg.largeChainsawTrials,
	}
	if d.self, err = os.Executable(); err != nil {
		return err
	}
	for _, p := range []*string{&d.cfg.runner, &d.cfg.kubectl, &d.cfg.chainsaw, &d.cfg.work} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	if err := d.versions(ctx); err != nil {
		return err
	}
	if err := d.clearWork(); err != nil {
		return err
	}
	d.waitForQuiet(ctx)
	audit, err := d.auditArgs()
	if err != nil {
		return err
	}

	log.Info().Str("dir", filepath.Join(cfg.work, "cluster")).Msg("starting the local cluster")
	d.cluster, err = localcluster.Start(ctx, localcluster.Options{
		Dir: filepath.Join(cfg.work, "cluster"), Nodes: seedNodes(cfg.seedReplicas), Logger: log.Level(zerolog.WarnLevel),
		Namespaces: []string{"longhorn-system", nsApply, nsAPILoad, nsMemory, nsSuites},
		Hooks:      []func(context.Context, *rest.Config) error{longhornsim.InstallCRDs},
		ExtraArgs:  map[string][]string{"kube-apiserver": audit},
	})
	if err != nil {
		return fmt.Errorf("starting the local cluster: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if serr := d.cluster.Stop(sctx); serr != nil {
			log.Warn().Err(serr).Msg("stopping the cluster")
		}
	}()
	d.kubeconfig = d.cluster.Kubeconfig()
	if d.kube, err = newKube(d.cluster.RESTConfig()); err != nil {
		return err
	}
	if v, err := d.kube.serverVersion(ctx); err == nil {
		d.res.Versions["kube-apiserver"] = v
	}
	defer func() { err = errors.Join(err, d.write()) }()

	suites := map[string]func(context.Context) error{
		"apply": d.applySuite, "wait": d.waitSuite, "apiload": d.apiLoadSuite,
		"memory": d.memorySuite, "exec": d.execSuite, "suites": d.suitesSuite, "large": d.largeSuite, "seed": d.seedSuite, "measure": d.measureSuite,
	}
	var errs []error
	for _, name := range allSuites {
		if !cfg.has(name) || ctx.Err() != nil {
			continue
		}
		t := time.Now()
		log.Info().Str("suite", name).Msg("suite started")
		if err := suites[name](ctx); err != nil {
			log.Error().Err(err).Str("suite", name).Msg("suite failed")
			d.res.Errors = append(d.res.Errors, fmt.Sprintf("%s: %v", name, err))
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		d.res.Suites[name] = int(time.Since(t).Seconds())
		log.Info().Str("suite", name).Dur("took", time.Since(t).Round(time.Second)).Msg("suite finished")
	}
	return errors.Join(errs...)
}

// scratch are what a run writes into the scratch folder, and all that it
// removes there at start: other files in it are left alone.
var scratch = []string{"cluster", "apply", "wait", "suites", "logs", "kubectl-cache", "audit.log", "audit-policy.yaml", "seed-*"}

func (d *driver) clearWork() error {
	if err := os.MkdirAll(d.cfg.work, 0o755); err != nil {
		return err
	}
	for _, pattern := range scratch {
		paths, err := filepath.Glob(filepath.Join(d.cfg.work, pattern))
		if err != nil {
			return err
		}
		for _, p := range paths {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// portable shortens the machine's paths in a command line for the doc:
// the repository root goes, the home folder becomes ~.
func portable(s string) string {
	if wd, err := os.Getwd(); err == nil {
		s = strings.ReplaceAll(s, wd+string(filepath.Separator), "")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "/" {
		s = strings.ReplaceAll(s, home, "~")
	}
	return s
}

// write saves the JSON results and rewrites the doc's generated section.
func (d *driver) write() error {
	d.res.End = time.Now()
	for k, v := range d.res.Commands {
		d.res.Commands[k] = portable(v)
	}
	d.res.Host = bench.HostLoad{Foreign: bench.Summarize(d.foreign), Load1: bench.Summarize(d.load1)}
	path, err := d.res.Write(d.cfg.out)
	if err != nil {
		return err
	}
	d.log.Info().Str("file", path).Msg("results written")
	if err := bench.UpdateDoc(d.cfg.doc, d.res, filepath.ToSlash(path)); err != nil {
		return err
	}
	d.log.Info().Str("file", d.cfg.doc).Msg("table written")
	return nil
}

// waitForQuiet waits until the 1-minute load average is below --max-load,
// at most --load-wait: the machine is shared.
func (d *driver) waitForQuiet(ctx context.Context) {
	t := time.Now()
	defer func() {
		d.res.Settings.WaitedForLoadMS = time.Since(t).Milliseconds()
		d.res.Settings.LoadAtStart = bench.SampleHost().Load1
	}()
	d.res.Settings.MaxLoadAtStart = d.cfg.maxLoad
	for {
		l := bench.SampleHost().Load1
		if l < d.cfg.maxLoad || time.Since(t) > d.cfg.loadWait {
			if l >= d.cfg.maxLoad {
				d.log.Warn().Float64("load1", l).Msg("machine still busy; running anyway (the results say how busy)")
			}
			return
		}
		d.log.Info().Float64("load1", l).Float64("want below", d.cfg.maxLoad).Msg("waiting for a quieter machine")
		select {
		case <-ctx.Done():
			return
		case <-time.After(15 * time.Second):
		}
	}
}

// versions records every tool's version, and fails early if one is missing.
func (d *driver) versions(ctx context.Context) error {
	for _, v := range []struct {
		name string
		path string
		args []string
	}{
		{"runner", d.cfg.runner, []string{"version"}},
		{"kubectl", d.cfg.kubectl, []string{"version", "--client"}},
		{"chainsaw", d.cfg.chainsaw, []string{"version"}},
	} {
		out, err := exec.CommandContext(ctx, v.path, v.args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s (%s): %v: %s (run make bench, or bench/build.sh and localcluster/build.sh)", v.name, v.path, err, out)
		}
		d.res.Versions[v.name] = firstLines(string(out), 2)
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		rev := strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			rev += "+dirty"
		}
		d.res.Versions["runner"] += " (" + rev + ")"
	}
	d.res.Versions["go"] = d.res.Machine.Go
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines[:min(n, len(lines))], "; ")
}

// trial runs one measured command with host samples around it.
func (d *driver) trial(ctx context.Context, c bench.Cmd) (bench.Result, bench.Trial) {
	h0 := bench.SampleHost()
	res := bench.Run(ctx, c)
	return res, d.trialInfo(h0, res)
}

// trialInfo fills what every trial records, from a host sample taken at
// its start.
func (d *driver) trialInfo(h0 bench.HostSample, res bench.Result) bench.Trial {
	h1 := bench.SampleHost()
	f := bench.Foreign(h0, h1)
	d.foreign = append(d.foreign, f)
	d.load1 = append(d.load1, h0.Load1)
	t := bench.Trial{OK: res.OK(), Exit: res.ExitCode, CPU: res.CPU().Seconds(), Foreign: round3(f), Load1: h0.Load1}
	switch {
	case res.Err != "":
		t.Error = res.Err
	case res.Killed:
		t.Error = "killed at the bench's deadline"
	case res.ExitCode != 0:
		t.Error = fmt.Sprintf("exit code %d", res.ExitCode)
	}
	return t
}

// logPath names a tool log in the scratch folder.
func (d *driver) logPath(parts ...string) string {
	dir := filepath.Join(d.cfg.work, "logs")
	_ = os.MkdirAll(dir, 0o755)
	return filepath.Join(dir, strings.ReplaceAll(strings.Join(parts, "-"), " ", "_")+".log")
}

// writeFile writes a generated file into the scratch folder.
func (d *driver) writeFile(rel, content string) (string, error) {
	p := filepath.Join(d.cfg.work, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, []byte(content), 0o644)
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
