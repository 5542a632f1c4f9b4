package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/scenario-runner/runner/bench"
)

const nsSuites = "bench-suites"

// Sizes of the suites benchmark.
const (
	suitePlans        = 200
	suiteParallel     = 8
	suiteListFiles    = 1000
	suiteMergeReports = 500
)

// suitesSuite runs 200 small plans in one invocation, serially and with
// --parallel 8; times runner list over 1,000 plan files and runner report
// merge of 500 reports; and measures the shard partition's balance on a
// skewed synthetic suite against contiguous slices.
func (d *driver) suitesSuite(ctx context.Context) error {
	s := &bench.SuitesBench{Plans: suitePlans, Parallel: suiteParallel, ListFiles: suiteListFiles, MergeReports: suiteMergeReports}
	d.res.PlanSuite = s
	cells, timings := bench.SkewedSuite(bench.SuiteBalancePlans, bench.SuiteBalanceSeedOffset)
	s.Balance = bench.Balance(cells, timings, []int{2, 3, 4, 8})

	if err := d.kube.ensureNamespace(ctx, nsSuites); err != nil {
		return err
	}
	plans := filepath.Join("suites", "plans")
	for i := range suitePlans {
		if _, err := d.writeFile(filepath.Join(plans, fmt.Sprintf("small-%04d.yaml", i)), bench.SmallPlan(nsSuites, i)); err != nil {
			return err
		}
	}
	var lastReport string
	for _, par := range []int{1, suiteParallel} {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		out := filepath.Join(d.cfg.work, "suites", fmt.Sprintf("report-%d", par))
		c := bench.Cmd{Path: d.cfg.runner, Args: []string{"--kubeconfig", d.kubeconfig, "--log-level", "warn", "--parallel", fmt.Sprint(par),
			"--report-dir", out, filepath.Join(d.cfg.work, plans)}, Timeout: 30 * time.Minute, Log: d.logPath("suites", fmt.Sprintf("parallel-%d", par))}
		d.res.Commands[fmt.Sprintf("runner suite --parallel %d", par)] = c.String()
		before, err := d.kube.scrape(ctx)
		if err != nil {
			return err
		}
		res, tr := d.trial(ctx, c)
		after, err := d.kube.scrape(ctx)
		if err != nil {
			return err
		}
		run := bench.SuiteRun{Trial: tr, Parallel: par, WallSeconds: round3(res.Wall().Seconds()),
			OwnMSPerPlan: round3(float64(res.CPU().Milliseconds()) / suitePlans), Requests: after.Sub(before).ByVerb("configmaps")}
		s.Runs = append(s.Runs, run)
		d.log.Info().Int("parallel", par).Float64("s", run.WallSeconds).Float64("cpu ms/plan", run.OwnMSPerPlan).Str("error", tr.Error).Msg("suites")
		lastReport = filepath.Join(out, "report.json")
	}

	// runner list over 1,000 plan files (the small plan, renamed).
	listDir := filepath.Join("suites", "list")
	for i := range suiteListFiles {
		if _, err := d.writeFile(filepath.Join(listDir, fmt.Sprintf("d%02d", i/100), fmt.Sprintf("p-%04d.yaml", i)), bench.SmallPlan(nsSuites, i)); err != nil {
			return err
		}
	}
	c := bench.Cmd{Path: d.cfg.runner, Args: []string{"list", "-o", "json", "--shards", "4", filepath.Join(d.cfg.work, listDir)}, Timeout: time.Minute}
	d.res.Commands["runner list"] = c.String()
	res, _ := d.trial(ctx, c)
	s.ListSeconds, s.ListExit = round3(res.Wall().Seconds()), res.ExitCode

	// runner report merge of 500 reports, one cell each, cut from the
	// serial run's report.
	if lastReport == "" {
		return nil
	}
	data, err := os.ReadFile(lastReport)
	if err != nil {
		return err
	}
	one, err := oneCellReports(data, suiteMergeReports)
	if err != nil {
		return err
	}
	mergeDir := filepath.Join("suites", "merge")
	for i, r := range one {
		if _, err := d.writeFile(filepath.Join(mergeDir, fmt.Sprintf("shard-%03d", i), "report.json"), r); err != nil {
			return err
		}
	}
	c = bench.Cmd{Path: d.cfg.runner, Args: []string{"report", "merge", filepath.Join(d.cfg.work, mergeDir), "--report-dir", filepath.Join(d.cfg.work, "suites", "merged")}, Timeout: time.Minute}
	d.res.Commands["runner report merge"] = c.String()
	res, _ = d.trial(ctx, c)
	s.MergeSeconds, s.MergeExit = round3(res.Wall().Seconds()), res.ExitCode
	return nil
}

var idRE = regexp.MustCompile(`"id": "small-(\d+)"`)

// oneCellReports makes n report.json documents from a report of many
// cells: each keeps the report's header and one plan, with a new id.
func oneCellReports(data []byte, n int) ([]string, error) {
	r, err := bench.SplitReport(data)
	if err != nil {
		return nil, err
	}
	if len(r.Plans) == 0 {
		return nil, fmt.Errorf("the report has no plans")
	}
	var out []string
	for i := range n {
		plan := idRE.ReplaceAllString(r.Plans[i%len(r.Plans)], fmt.Sprintf(`"id": "merged-%04d"`, i))
		out = append(out, r.Head+`"plans": [`+plan+"]}\n")
	}
	return out, nil
}
