package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/scenario-runner/runner/bench"
)

// measureRepeat is how many create-and-delete runs the probe makes: about
// 15 s of probe on the local cluster, 15 reads of the measure.
const measureRepeat = 1000

// measureProcess names the simulator this suite runs (the seed suite runs
// its own after).
const measureProcess = "longhorn-sim-measure"

// measurePlan is the probe; with measure, it samples one series per node
// (each from its own manager) every second while it runs.
func measurePlan(measured bool) string {
	block := ""
	if measured {
		block = `
      measure:
        pods: {namespace: longhorn-system, labelSelector: app=longhorn-manager, port: manager}
        every: 1s
        queries:
          ready: longhorn_node_status{condition="ready"}`
	}
	return fmt.Sprintf(`name: bench-measure
defaults: {namespace: %s}
steps:
  - name: every manager serves its metrics
    timeout: 2m
    metrics:
      pods: {namespace: longhorn-system, labelSelector: app=longhorn-manager, port: manager}
      queries:
        ready: count(longhorn_node_status{condition="ready"})
        nodes: max(longhorn_node_count_total)
      until: ready.value == nodes.value
      every: 1s
  - timeProbe:
      name: configmap%s
      repeat: %d
      steps:
        - apply:
            manifest: |
              apiVersion: v1
              kind: ConfigMap
              metadata: {name: bench-measure}
        - delete: {apiVersion: v1, kind: ConfigMap, name: bench-measure}
`, nsApply, block, measureRepeat)
}

// measureSuite runs the probe plan with and without a measure, rounds
// interleaved, and records the probe's p50 and runner's CPU of each.
func (d *driver) measureSuite(ctx context.Context) error {
	if err := d.cluster.StartProcess(ctx, measureProcess, d.cfg.runner, "sim", "longhorn", "--kubeconfig", d.kubeconfig, "--mode", "default"); err != nil {
		return fmt.Errorf("starting the Longhorn simulator: %w", err)
	}
	defer func() {
		if err := d.cluster.Kill(measureProcess); err != nil {
			d.log.Warn().Err(err).Msg("stopping the measure suite's simulator")
		}
	}()
	nodes := seedNodes(d.cfg.seedReplicas)
	s := &bench.MeasureSuite{Managers: nodes, Series: nodes, EverySeconds: 1, Repeat: measureRepeat}
	d.res.Measure = s
	plans := map[bool]string{}
	for _, m := range []bool{false, true} {
		p, err := d.writeFile(fmt.Sprintf("measure/probe-%v.yaml", m), measurePlan(m))
		if err != nil {
			return err
		}
		plans[m] = p
	}
	for round := 1; round <= d.cfg.rounds; round++ {
		for _, m := range []bool{round%2 == 0, round%2 != 0} {
			name := fmt.Sprintf("measure-%v-%d", m, round)
			report := filepath.Join(d.cfg.work, "measure", name)
			c := bench.Cmd{Path: d.cfg.runner, Args: []string{"--kubeconfig", d.kubeconfig, "--log-format", "json", "--report-dir", report, plans[m]},
				Timeout: seedTimeout, Log: d.logPath(name)}
			res, info := d.trial(ctx, c)
			run := bench.MeasureRun{Measured: m, Round: round, Outcome: "passed", Seconds: round3(res.Wall().Seconds()), CPU: round3(res.CPU().Seconds())}
			if !info.OK {
				run.Outcome = "failed: " + info.Error
			}
			if err := readProbe(filepath.Join(report, "report.json"), &run); err != nil && info.OK {
				run.Outcome = "failed: " + err.Error()
			}
			s.Runs = append(s.Runs, run)
			d.res.Commands["measure"] = strings.Replace(c.String(), d.kubeconfig, "KUBECONFIG", 1)
			d.log.Info().Bool("measure", m).Int("round", round).Float64("p50 ms", 1000*run.P50).Float64("cpu s", run.CPU).
				Int("reads", run.Reads).Str("outcome", run.Outcome).Msg("measure probe")
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

// readProbe reads the probe's p50 and p90, and its measure's reads and
// series, from report.json.
func readProbe(path string, run *bench.MeasureRun) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r struct {
		Plans []struct {
			Steps []struct {
				Kind   string `json:"kind"`
				Detail struct {
					Stats   map[string]float64 `json:"statsSeconds"`
					Measure *struct {
						Reads    int `json:"reads"`
						Measured []struct {
							Series []json.RawMessage `json:"series"`
						} `json:"measured"`
					} `json:"measure"`
				} `json:"detail"`
			} `json:"steps"`
		} `json:"plans"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	for _, p := range r.Plans {
		for _, s := range p.Steps {
			if s.Kind != "timeProbe" {
				continue
			}
			run.P50, run.P90 = s.Detail.Stats["p50"], s.Detail.Stats["p90"]
			if m := s.Detail.Measure; m != nil {
				run.Reads = m.Reads
				for _, q := range m.Measured {
					run.Series += len(q.Series)
				}
			}
			return nil
		}
	}
	return fmt.Errorf("%s: no timeProbe", path)
}
