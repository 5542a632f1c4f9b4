package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/scenario-runner/runner/bench"
)

// seedPlan is the seed scenario, relative to the repository root.
const seedPlan = "scenarios/bi-scalability.yaml"

// seedTimeout bounds one seed run: 2,500 volumes took 14 minutes and
// 10,000 about an hour without their teardown (2026-12-01), as binding the
// claims grows faster than the number of volumes.
const seedTimeout = 2 * time.Hour

// seedNodes is how many nodes the bench's cluster gets: the seed cluster's
// 3, or enough for the largest seed run's pods at 100 of the 110 a node
// allocates (1,000 pods: 10 nodes).
func seedNodes(replicas []int) int {
	n := 3
	for _, r := range replicas {
		n = max(n, (r+99)/100)
	}
	return n
}

// seedSuite runs the seed scenario on the Longhorn simulator at each size,
// with a CPU profile of the largest.
func (d *driver) seedSuite(ctx context.Context) error {
	plan, err := filepath.Abs(seedPlan)
	if err != nil {
		return err
	}
	if err := d.cluster.StartProcess(ctx, "longhorn-sim", d.cfg.runner, "sim", "longhorn", "--kubeconfig", d.kubeconfig, "--mode", "default"); err != nil {
		return fmt.Errorf("starting the Longhorn simulator: %w", err)
	}
	help, _ := exec.CommandContext(ctx, d.cfg.runner, "--help").CombinedOutput()
	hasReportDir := strings.Contains(string(help), "--report-dir")
	largest := 0
	for _, r := range d.cfg.seedReplicas {
		largest = max(largest, r)
	}
	for _, replicas := range d.cfg.seedReplicas {
		name := fmt.Sprintf("seed-%d", replicas)
		args := []string{"--kubeconfig", d.kubeconfig, "--log-format", "json", "--set", fmt.Sprintf("replicas=%d", replicas)}
		var profile, reportDir string
		if replicas == largest {
			profile = filepath.Join(d.cfg.work, name+".pprof")
			args = append(args, "--cpuprofile", profile)
			if !d.cfg.seedCleanupLargest {
				args = append(args, "--cleanup", "never")
			}
		}
		if hasReportDir {
			reportDir = filepath.Join(d.cfg.work, name+"-report")
			args = append(args, "--report-dir", reportDir)
		}
		c := bench.Cmd{Path: d.cfg.runner, Args: append(args, plan), Timeout: seedTimeout, Log: d.logPath(name)}
		d.log.Info().Int("replicas", replicas).Msg("seed scenario started")
		res, info := d.trial(ctx, c)
		run := bench.SeedRun{Replicas: replicas, Volumes: replicas * 10, Exit: res.ExitCode, Outcome: "passed",
			Seconds: round3(res.Wall().Seconds()), CPU: round3(res.CPU().Seconds()), MaxRSSMB: round3(float64(res.MaxRSS) / 1e6),
			Foreign: info.Foreign, Command: strings.Replace(c.String(), d.kubeconfig, "KUBECONFIG", 1)}
		if !info.OK {
			run.Outcome = "failed: " + info.Error
		}
		run.Phases, run.Source = phases(c.Log, reportDir)
		if profile != "" {
			run.Profile = pprofTop(ctx, d.cfg.runner, profile)
		}
		d.res.Seed = append(d.res.Seed, run)
		d.log.Info().Int("replicas", replicas).Float64("s", run.Seconds).Float64("cpu s", run.CPU).
			Float64("cpu share %", 100*run.CPU/run.Seconds).Str("outcome", run.Outcome).Msg("seed scenario")
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// phases reads the duration of every step: from report.json when runner
// wrote one, else from its JSON log (the "took" of each step's last line)
// and the cleanup line of its summary.
func phases(logPath, reportDir string) ([]bench.Phase, string) {
	if reportDir != "" {
		if p, err := reportPhases(filepath.Join(reportDir, "report.json")); err == nil && len(p) > 0 {
			return p, "report.json"
		}
	}
	f, err := os.Open(logPath)
	if err != nil {
		return nil, ""
	}
	defer f.Close()
	var out []bench.Phase
	cleanup := regexp.MustCompile(`^\s+cleanup \(\w[\w-]*\): .*\(([0-9.]+[µmn]?s|[0-9hms.]+)\)$`)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		// Each log line is "<ms since start> <output line>".
		_, line, _ := strings.Cut(strings.TrimLeft(sc.Text(), " "), " ")
		if m := cleanup.FindStringSubmatch(line); m != nil {
			if dur, err := time.ParseDuration(m[1]); err == nil {
				out = append(out, bench.Phase{Name: "cleanup", Seconds: round3(dur.Seconds())})
			}
			continue
		}
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var l struct {
			Step    string   `json:"step"`
			Took    *float64 `json:"took"` // zerolog: milliseconds
			Outcome string   `json:"outcome"`
			Message string   `json:"message"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Took == nil || l.Step == "" {
			continue
		}
		outcome := l.Outcome
		if outcome == "" && l.Message == "step passed" {
			outcome = "passed"
		}
		out = append(out, bench.Phase{Name: l.Step, Seconds: round3(*l.Took / 1000), Outcome: outcome})
	}
	return out, "log"
}

// reportPhases reads the steps of the first plan of runner's report.json
// (schema runner.report/v1).
func reportPhases(path string) ([]bench.Phase, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type step struct {
		Name    string  `json:"name"`
		Seconds float64 `json:"durationSeconds"`
		Outcome string  `json:"outcome"`
		Steps   []step  `json:"steps"`
	}
	var r struct {
		Plans []struct {
			Steps   []step `json:"steps"`
			Cleanup *struct {
				Ran     bool    `json:"ran"`
				Seconds float64 `json:"durationSeconds"`
			} `json:"cleanup"`
		} `json:"plans"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if len(r.Plans) == 0 {
		return nil, fmt.Errorf("%s: no plan", path)
	}
	var out []bench.Phase
	var walk func([]step, string)
	walk = func(steps []step, prefix string) {
		for _, s := range steps {
			out = append(out, bench.Phase{Name: prefix + s.Name, Seconds: round3(s.Seconds), Outcome: s.Outcome})
			walk(s.Steps, prefix+s.Name+" / ")
		}
	}
	p := r.Plans[0]
	walk(p.Steps, "")
	if p.Cleanup != nil && p.Cleanup.Ran {
		out = append(out, bench.Phase{Name: "cleanup", Seconds: round3(p.Cleanup.Seconds)})
	}
	return out, nil
}

// pprofTop summarises a CPU profile with go tool pprof -top.
func pprofTop(ctx context.Context, binary, profile string) string {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", binary, profile).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof failed: %v: %s", err, out)
	}
	return string(out)
}
