// Command bench measures runner against kubectl, chainsaw and a plain
// client-go loop on a local cluster of its own, and writes
// bench/results/<date>.json and the generated part of docs/benchmarks.md.
// `make bench` builds the tools and runs it; see docs/benchmarks.md.
//
// It is bounded in time (--max-time), runs every tool in a process that dies
// with it, and stops the cluster it started whatever happens.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/scenario-runner/runner/bench"
)

// Exit codes, decided here only.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitTimeout     = 124
	exitInterrupted = 130
)

var errInterrupted = errors.New("interrupted")

func main() {
	if len(os.Args) > 1 && os.Args[1] == "createloop" {
		if err := createLoop(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "createloop:", err)
			os.Exit(exitFailed)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "render" {
		if err := render(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "render:", err)
			os.Exit(exitFailed)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(exitUsage)
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		log.Warn().Msg("interrupted: stopping the tools and the cluster")
		cancel(errInterrupted)
	}()
	ctx, stop := context.WithTimeoutCause(ctx, cfg.maxTime, fmt.Errorf("--max-time %s reached", cfg.maxTime))
	defer stop()

	err = run(ctx, cfg, log)
	switch {
	case errors.Is(context.Cause(ctx), errInterrupted):
		os.Exit(exitInterrupted)
	case ctx.Err() != nil:
		log.Error().Err(context.Cause(ctx)).Msg("bench stopped")
		os.Exit(exitTimeout)
	case err != nil:
		log.Error().Err(err).Msg("bench failed")
		os.Exit(exitFailed)
	}
	os.Exit(exitOK)
}

// config is the command line.
type config struct {
	runner, kubectl, chainsaw string
	work, out, doc            string
	suites                    []string
	maxTime                   time.Duration
	rounds                    int
	parallel                  int
	qps                       float64
	burst                     int
	unthrottled               bool
	chainsawApplyRounds       int
	seedCleanupLargest        bool
	applyCM, applyBI          int
	waitSizes                 []int
	waitTrials                int
	kubectlTrials             []int
	apiLoadObjects            int
	apiLoadFor                time.Duration
	memObjects, memRounds     int
	memFor                    time.Duration
	seedReplicas              []int
	largeObjects, largeTail   int
	largeTrials               int
	largeChainsawTrials       int
	largeMemFor               time.Duration
	maxLoad                   float64
	loadWait                  time.Duration
}

// allSuites are the suites in the order they run: large before seed, whose
// largest run leaves its objects and the simulator busy in the cluster.
var allSuites = []string{"apply", "wait", "apiload", "memory", "exec", "suites", "large", "measure", "seed"}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	fs.StringVar(&c.runner, "runner", "bin/runner", "runner binary")
	fs.StringVar(&c.kubectl, "kubectl", filepath.Join(cache, "runner/k8s-v1.37.2-etcd-v3.7.3-kwok-v0.8.0/bin/kubectl"), "kubectl binary (localcluster/build.sh)")
	fs.StringVar(&c.chainsaw, "chainsaw", filepath.Join(cache, "runner/bench-chainsaw-v0.2.15/bin/chainsaw"), "chainsaw binary (bench/build.sh)")
	fs.StringVar(&c.work, "work", "bench/tmp", "scratch folder: the cluster, generated files, tool logs (replaced at start; other files there are kept)")
	fs.StringVar(&c.out, "out", "bench/results", "folder for <date>.json")
	fs.StringVar(&c.doc, "doc", "docs/benchmarks.md", "Markdown file whose generated section is rewritten")
	suites := fs.String("suites", strings.Join(allSuites, ","), "suites to run: "+strings.Join(allSuites, ","))
	fs.DurationVar(&c.maxTime, "max-time", 4*time.Hour, "bound on the whole run (the 10,000-volume seed run alone takes about an hour)")
	fs.IntVar(&c.rounds, "rounds", 5, "rounds of the apply benchmark (tools interleaved)")
	fs.IntVar(&c.parallel, "parallel", 16, "concurrency of runner's apply and of the client-go loop")
	fs.Float64Var(&c.qps, "qps", 0, "if positive, also apply with runner and the client-go loop at this fixed client QPS (200 was runner's default before 2026-12-01; now it has no client limit where the server has priority and fairness)")
	fs.IntVar(&c.burst, "burst", 400, "client burst with --qps")
	fs.BoolVar(&c.unthrottled, "unthrottled", true, "also run runner --qps -1 and the client-go create loop without a client rate limit (the API server's own limit)")
	fs.IntVar(&c.chainsawApplyRounds, "chainsaw-apply-rounds", 1, "rounds in which chainsaw applies too (it sleeps 50 ms before each object: ~3 min a round)")
	fs.IntVar(&c.applyCM, "configmaps", 2000, "ConfigMaps per apply trial")
	fs.IntVar(&c.applyBI, "backingimages", 1000, "BackingImages per apply trial")
	sizes := fs.String("wait-sizes", "250,2500", "objects per wait latency benchmark")
	fs.IntVar(&c.waitTrials, "wait-trials", 20, "latency trials per tool and size")
	kt := fs.String("kubectl-wait-trials", "3,1", "kubectl's latency trials per size (it takes ~0.1 s per object)")
	fs.IntVar(&c.apiLoadObjects, "apiload-objects", 2500, "objects of the never-ending wait")
	fs.DurationVar(&c.apiLoadFor, "apiload-for", 60*time.Second, "length of the never-ending wait")
	fs.IntVar(&c.memObjects, "memory-objects", 10000, "objects of the memory benchmark")
	fs.IntVar(&c.memRounds, "memory-rounds", 3, "rounds of the memory suite, and of runner's memory runs in the large suite (chainsaw's there: one)")
	fs.DurationVar(&c.memFor, "memory-for", 15*time.Second, "length of each memory benchmark wait")
	fs.IntVar(&c.largeObjects, "large-objects", 100000, "ConfigMaps of the large suite (created once)")
	fs.IntVar(&c.largeTail, "large-tail", 100, "objects the large suite's latency trials change (the last ones)")
	fs.IntVar(&c.largeTrials, "large-trials", 10, "runner's latency trials in the large suite")
	fs.IntVar(&c.largeChainsawTrials, "large-chainsaw-trials", 3, "chainsaw's latency trials in the large suite (it lists every object every poll: ~1 min a trial at 100,000)")
	fs.DurationVar(&c.largeMemFor, "large-memory-for", 45*time.Second, "length of each memory wait on the large suite's objects (runner's log shows it has listed them within 30 s)")
	seed := fs.String("seed-replicas", "25,250,1000", "StatefulSet replicas of the seed scenario runs (10 volumes each)")
	fs.BoolVar(&c.seedCleanupLargest, "seed-cleanup-largest", false, "let runner clean up after the largest seed run too (minutes of the controllers' deletions; the cluster is stopped anyway)")
	fs.Float64Var(&c.maxLoad, "max-load", 1.5, "wait at start until the 1-minute load average is below this")
	fs.DurationVar(&c.loadWait, "load-wait", 10*time.Minute, "how long to wait for --max-load before running anyway")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(*suites, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(allSuites, s) {
			return c, fmt.Errorf("--suites: unknown %q; valid: %s", s, strings.Join(allSuites, ", "))
		}
		c.suites = append(c.suites, s)
	}
	var err error
	if c.waitSizes, err = ints("--wait-sizes", *sizes); err != nil {
		return c, err
	}
	if c.kubectlTrials, err = ints("--kubectl-wait-trials", *kt); err != nil {
		return c, err
	}
	for len(c.kubectlTrials) < len(c.waitSizes) {
		c.kubectlTrials = append(c.kubectlTrials, 1)
	}
	if c.seedReplicas, err = ints("--seed-replicas", *seed); err != nil {
		return c, err
	}
	if c.rounds < 1 || c.waitTrials < 1 || c.parallel < 1 || c.largeTrials < 1 {
		return c, errors.New("--rounds, --wait-trials, --large-trials and --parallel must be at least 1")
	}
	if c.largeChainsawTrials < 0 {
		return c, errors.New("--large-chainsaw-trials must not be negative")
	}
	if c.largeTail < 1 || c.largeObjects < c.largeTail {
		return c, fmt.Errorf("--large-tail (%d) must be at least 1 and at most --large-objects (%d)", c.largeTail, c.largeObjects)
	}
	return c, nil
}

// render rewrites the doc's generated section from a results file, e.g.
// after a change to the tables: bench render bench/results/<date>.json.
func render(args []string) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	doc := fs.String("doc", "docs/benchmarks.md", "Markdown file whose generated section is rewritten")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: bench render [--doc FILE] RESULTS.json")
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var r bench.Results
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	return bench.UpdateDoc(*doc, &r, filepath.ToSlash(fs.Arg(0)))
}

func ints(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 0 {
			return nil, fmt.Errorf("%s: %q is not a count", flagName, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func (c config) has(suite string) bool { return slices.Contains(c.suites, suite) }
