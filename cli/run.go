package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/redact"
	"github.com/scenario-runner/runner/result"
	"github.com/scenario-runner/runner/schedule"
	"github.com/scenario-runner/runner/suite"
)

type runOptions struct {
	streams        Streams
	abort          <-chan struct{}
	in             inputs
	kubeconfig     string
	kubeContext    string
	cleanup        string
	timeout        time.Duration
	cleanupTimeout time.Duration
	qps            float32
	burst          int
	logFormat      string
	logLevel       string
	dryRun         bool
	reportDir      string
	cpuProfile     string
	sel            selection
	parallel       int
	meta           []string
	allowCommands  bool
	noPreflight    bool
	// In a pod of runner job: see jobpod.go.
	jobShards int
	publish   string
}

func (o *runOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	o.in.addFlags(f)
	o.sel.addRunFlags(f)
	f.IntVar(&o.parallel, "parallel", 1, "run up to N cells at once against the cluster; cells that share a lock never overlap, a cell holding the lock cluster runs alone")
	f.StringArrayVar(&o.meta, "meta", nil, "key=value stored in report.json (meta) for report compare and trend, e.g. longhorn=v1.9.2 (repeatable)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	f.StringVar(&o.kubeContext, "context", "", "kubeconfig context to use")
	f.StringVar(&o.cleanup, "cleanup", "", "when to delete what the plan created: always, on-success or never (default: the plan's cleanup)")
	f.DurationVar(&o.timeout, "timeout", 0, "bound on each plan, overriding the plan's timeout")
	f.DurationVar(&o.cleanupTimeout, "cleanup-timeout", engine.DefaultCleanupTimeout, "bound on the cleanup of each plan")
	f.Float32Var(&o.qps, "qps", 0, "client queries per second to the API server (0: no client-side limit when the server has API Priority and Fairness, which then throttles, else 200; negative: no limit)")
	f.IntVar(&o.burst, "burst", 400, "client burst to the API server, with a limit")
	f.StringVar(&o.logFormat, "log-format", "console", "log format on stderr: console or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.BoolVar(&o.dryRun, "dry-run", false, "validate, then server-side dry-run every apply, delete and scale; waits and sleeps are skipped")
	f.BoolVar(&o.allowCommands, "allow-commands", false, "let command steps run programs on this machine (refused otherwise: a plan may come from a pull request)")
	f.BoolVar(&o.noPreflight, "no-preflight", false, "skip the check, before anything is created, that this identity may do all the plans need (runner rbac); for servers that refuse SelfSubjectAccessReview")
	f.StringVar(&o.reportDir, "report-dir", "", "after the run, write report.json, junit.xml and report.html of all plans into this folder")
	f.IntVar(&o.jobShards, "job-shards", 0, "in a pod of runner job (an Indexed Job): run shard $JOB_COMPLETION_INDEX+1 of N (set by runner job)")
	f.StringVar(&o.publish, "publish", "", "in a pod of runner job: after the run, write report.json into the results ConfigMap of job NAMESPACE/NAME (set by runner job)")
	// For benchmarks (bench/): where runner's own time goes.
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = f.MarkHidden("cpuprofile")
}

// runPlans validates every plan, connects, then runs them in order. The
// error returned is the worst outcome.
func runPlans(ctx context.Context, o *runOptions, files []string) error {
	log, err := newLogger(o.streams.Err, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	routeKlog(log)
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	policy := result.CleanupPolicy(o.cleanup)
	switch policy {
	case "", result.CleanupAlways, result.CleanupOnSuccess, result.CleanupNever:
	default:
		return fmt.Errorf("%w: --cleanup %q: use always, on-success or never", ErrUsage, o.cleanup)
	}
	meta, err := parseMeta(o.meta)
	if err != nil {
		return err
	}
	if o.parallel < 1 {
		return fmt.Errorf("%w: --parallel %d: give 1 or more", ErrUsage, o.parallel)
	}
	o.sel.parallel = o.parallel
	if err := o.jobShard(); err != nil {
		return err
	}
	s, err := loadSuite(files, o.in, o.sel)
	if err == nil && !o.allowCommands && !o.dryRun {
		err = refuseLocal(onePerPlan(s.Plans))
	}
	if err != nil {
		renderInvalid(o.streams.Err, err)
		return err
	}
	plans := s.Plans
	if len(plans) == 0 {
		what := "the plans given"
		if s.Shard != nil {
			what = "shard " + s.Shard.String()
		}
		log.Warn().Msg("no cells to run in " + what + " (after --selector, --shard and --rerun-failed)")
		if o.reportDir != "" {
			return writeReport(o, files, meta, nil, nil, "")
		}
		return nil
	}
	client, err := kube.New(kube.Options{Kubeconfig: o.kubeconfig, Context: o.kubeContext, QPS: o.qps, Burst: o.burst})
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	server, err := client.Check(cctx)
	cancel()
	if err != nil {
		if errors.Is(context.Cause(ctx), ErrInterrupted) {
			return ErrInterrupted
		}
		return err
	}
	log.Info().Str("server", client.Config.Host).Str("version", server).Str("context", client.Context).Str("client_limit", client.ClientLimit()).Msg("connected")
	if !o.noPreflight {
		if err := preflight(ctx, o.streams.Err, log, client, plans); err != nil {
			return err
		}
	}

	results := runCells(ctx, o, log, s, client, server)
	if len(results) > 1 {
		printTotals(o.streams.Out, results)
	}
	err = worst(ctx, results)
	if o.reportDir != "" {
		if rerr := writeReport(o, files, meta, results, client, server); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// onePerPlan keeps the first cell of each plan file: the cells of a
// matrix share their plan's steps.
func onePerPlan(cells []*engine.Plan) []*engine.Plan {
	seen := map[string]bool{}
	var out []*engine.Plan
	for _, p := range cells {
		if !seen[p.File] {
			seen[p.File] = true
			out = append(out, p)
		}
	}
	return out
}

// refuseLocal refuses, before anything touches the cluster, plans with
// steps that run programs on this machine (engine.Kind.Local).
func refuseLocal(plans []*engine.Plan) error {
	var errs []error
	for _, p := range plans {
		if err := p.RefuseLocal(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// startCPUProfile profiles the process until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --cpuprofile: %v", ErrUsage, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// worst turns the results into the error that decides the exit code.
func worst(ctx context.Context, results []*result.Plan) error {
	var failed []string
	for _, r := range results {
		switch r.Outcome {
		case result.Interrupted:
			return ErrInterrupted
		case result.Failed, result.TimedOut:
			failed = append(failed, r.Name)
		}
	}
	if errors.Is(context.Cause(ctx), ErrInterrupted) {
		return ErrInterrupted
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %v", ErrFailed, failed)
	}
	return nil
}

// parseMeta reads --meta key=value pairs.
func parseMeta(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%w: --meta %q: expected key=value", ErrUsage, p)
		}
		out[k] = v
	}
	return out, nil
}

// runCells runs the plans (cells): one after another, or with --parallel
// up to N at once under their locks (package schedule). Each cell has its
// own run id, cleanup and result; with --parallel its log lines carry its
// cell id. Results are printed as cells end and returned in the order of
// plans, without the cells an interrupt kept from starting.
func runCells(ctx context.Context, o *runOptions, log zerolog.Logger, s *suitePlans, client *kube.Client, server string) []*result.Plan {
	plans := s.Plans
	policy := result.CleanupPolicy(o.cleanup)
	results := make([]*result.Plan, len(plans))
	var printMu sync.Mutex
	print := func(res *result.Plan) {
		printMu.Lock()
		defer printMu.Unlock()
		printResult(o.streams.Out, res)
	}
	runOne := func(ctx context.Context, i int, log zerolog.Logger, observer engine.Observer) {
		p := plans[i]
		log.Info().Str("plan", p.Name).Str("cell", p.ID).Str("file", p.File).Msg("running")
		// The cell's own set: its secrets, and those it meets while it
		// runs, which it forwards to the streams' set (the terminal and
		// the report are shared by every cell).
		secrets := redact.New(o.in.secrets)
		secrets.Add(o.in.planSecrets(p)...)
		results[i] = engine.Run(ctx, p, engine.RunOptions{
			Cluster: client, Log: log, Observer: observer, Redact: secrets,
			Cleanup: policy, Timeout: o.timeout, CleanupTimeout: o.cleanupTimeout,
			DryRun: o.dryRun, Abort: o.abort, Server: server, ReportDir: o.reportDir, AllowLocal: o.allowCommands,
		})
	}
	if o.parallel <= 1 || len(plans) == 1 {
		observer, log := newObserver(o, log)
		defer observer.Stop()
		for i := range plans {
			if ctx.Err() != nil {
				break
			}
			runOne(ctx, i, log, observer)
			print(results[i])
		}
		return slices.DeleteFunc(results, func(r *result.Plan) bool { return r == nil })
	}
	// Longest first (by the --timings, else the plans' timeouts): a long
	// cell started last would keep the run going alone.
	order := suite.LongestFirst(s.Cells, s.Timings.Seconds)
	jobs := make([]schedule.Job, len(order))
	for k, i := range order {
		jobs[k] = schedule.Job{ID: plans[i].ID, Locks: plans[i].Locks}
	}
	log.Info().Int("cells", len(plans)).Int("parallel", o.parallel).Msg("running cells in parallel (cells that share a lock never overlap; a cell holding cluster runs alone)")
	tty := isTerminal(o.streams.Err)
	if tty && o.logFormat == "console" {
		// One live line per running cell; logs and summaries above them.
		live := newCellsLive(o.streams.Err, time.Now, terminalWidth(o.streams.Err))
		live.Start()
		defer live.Stop()
		log = log.Output(consoleWriter(live.logWriter(), false))
		schedule.Run(ctx, jobs, o.parallel, func(ctx context.Context, k int) {
			i := order[k]
			observer := live.cell(plans[i].ID)
			runOne(ctx, i, log.With().Str("cell", plans[i].ID).Logger(), observer)
			live.done(observer)
			live.above(func() { print(results[i]) })
		})
	} else {
		schedule.Run(ctx, jobs, o.parallel, func(ctx context.Context, k int) {
			i := order[k]
			clog := log.With().Str("cell", plans[i].ID).Logger()
			observer := newLogObserver(clog, tty)
			observer.Start()
			runOne(ctx, i, clog, observer)
			observer.Stop()
			print(results[i])
		})
	}
	return slices.DeleteFunc(results, func(r *result.Plan) bool { return r == nil })
}
