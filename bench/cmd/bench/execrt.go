package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/scenario-runner/runner/bench"
)

// execPlan runs `true` in one pod n times, each exec step timed by runner.
const execPlan = `name: bench-exec
defaults: {namespace: %[1]s}
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: Pod
        metadata: {name: exec-bench}
        spec:
          terminationGracePeriodSeconds: 0
          containers: [{name: app, image: registry.k8s.io/pause:3.10}]
  - waitFor: {apiVersion: v1, kind: Pod, name: exec-bench, condition: 'object.status?.phase == "Running"'}
  - timeProbe:
      name: exec-true
      repeat: %[2]d
      steps:
        - exec: {name: exec-bench, command: ["true"]}
`

// execSuite measures the exec round trip on the local cluster (its exec
// endpoint, localcluster/podexec): runner's exec step of `true`, n times in
// a timeProbe (each step's time from report.json), against kubectl exec of
// the same, one process per call as a user runs it. The pod is kept for
// kubectl (--cleanup never) and deleted at the end.
func (d *driver) execSuite(ctx context.Context) error {
	const n = 50
	s := &bench.ExecSuite{Commands: n}
	d.res.Exec = s
	plan, err := d.writeFile("exec/plan.yaml", fmt.Sprintf(execPlan, nsApply, n))
	if err != nil {
		return err
	}
	defer bench.Run(context.WithoutCancel(ctx), bench.Cmd{Path: d.cfg.kubectl, Args: []string{"--kubeconfig", d.kubeconfig, "-n", nsApply, "delete", "pod", "exec-bench", "--wait=false", "--ignore-not-found"}, Timeout: time.Minute})
	reportDir := filepath.Join(d.cfg.work, "exec", "report")
	d.res.Commands["exec runner"] = "runner --cleanup never --report-dir DIR exec/plan.yaml (a timeProbe of 50 exec steps of true)"
	res, _ := d.trial(ctx, bench.Cmd{Path: d.cfg.runner, Args: []string{"--kubeconfig", d.kubeconfig, "--cleanup", "never", "--report-dir", reportDir, plan},
		Timeout: 10 * time.Minute, Log: d.logPath("exec", "runner")})
	if !res.OK() {
		return fmt.Errorf("runner's exec plan: exit %d %s (log %s)", res.ExitCode, res.Err, d.logPath("exec", "runner"))
	}
	runner, err := execSamples(filepath.Join(reportDir, "report.json"))
	if err != nil {
		return err
	}
	s.Runner = bench.Summarize(runner)
	d.res.Commands["exec kubectl"] = "kubectl exec exec-bench -- true (50 processes, one after the other)"
	var kubectl []float64
	for i := 0; i < n && ctx.Err() == nil; i++ {
		res, _ := d.trial(ctx, bench.Cmd{Path: d.cfg.kubectl, Args: []string{"--kubeconfig", d.kubeconfig, "-n", nsApply, "exec", "exec-bench", "--", "true"}, Timeout: time.Minute, Log: d.logPath("exec", "kubectl")})
		if !res.OK() {
			return fmt.Errorf("kubectl exec: exit %d %s (log %s)", res.ExitCode, res.Err, d.logPath("exec", "kubectl"))
		}
		kubectl = append(kubectl, float64(res.Wall().Microseconds())/1000)
	}
	s.Kubectl = bench.Summarize(kubectl)
	d.log.Info().Float64("runner_p50_ms", s.Runner.P50).Float64("kubectl_p50_ms", s.Kubectl.P50).Msg("exec round trip")
	return nil
}

// execSamples reads the durations of the exec steps in runner's report.json.
func execSamples(path string) ([]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type step struct {
		Kind    string  `json:"kind"`
		Seconds float64 `json:"durationSeconds"`
		Steps   []step  `json:"steps"`
	}
	var r struct {
		Plans []struct {
			Steps []step `json:"steps"`
		} `json:"plans"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	var out []float64
	var walk func([]step)
	walk = func(steps []step) {
		for _, s := range steps {
			if s.Kind == "exec" {
				out = append(out, s.Seconds*1000)
			}
			walk(s.Steps)
		}
	}
	for _, p := range r.Plans {
		walk(p.Steps)
	}
	return out, nil
}
