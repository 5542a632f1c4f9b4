package cli

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/pflag"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/report"
	"github.com/scenario-runner/runner/steps"
	"github.com/scenario-runner/runner/suite"
)

// selection are the flags that pick the cells of a suite: which plans
// (--selector), which shard of the partition (--shard, --timings) and which
// cells of an earlier run (--rerun-failed).
type selection struct {
	selector    string
	timings     []string
	shard       string
	rerunFailed string
	cells       []string
	// parallel is the --parallel the shards run with: shards are packed
	// as that many lanes each.
	parallel int
}

func (s *selection) addSelectorFlags(f *pflag.FlagSet) {
	f.StringVar(&s.selector, "selector", "", "only the plans whose labels match this label selector, e.g. 'tier=nightly,area in (volume,node),!slow'")
	f.StringArrayVar(&s.timings, "timings", nil, "earlier report.json files (or folders holding them) whose durations estimate each cell's time for the shards (repeatable)")
}

func (s *selection) addRunFlags(f *pflag.FlagSet) {
	s.addSelectorFlags(f)
	f.StringVar(&s.shard, "shard", "", "run only shard I of N (I/N) of the partition runner list --shards N prints (same --selector and --timings)")
	f.StringVar(&s.rerunFailed, "rerun-failed", "", "run only the cells that failed, timed out or were interrupted in this report.json")
	f.StringArrayVar(&s.cells, "cell", nil, "run only the cell with this id, e.g. 'bi-scalability[replicas=25]' (repeatable; a GitHub matrix entry of runner list -o github has it as id)")
}

// suitePlans are the cells an invocation runs, with the loaded plans.
type suitePlans struct {
	// Cells are the selected cells in order; Plans[i] is Cells[i]'s plan.
	Cells []suite.Cell
	Plans []*engine.Plan
	// Timings are the earlier durations given with --timings.
	Timings suite.Timings
	// Shard is the --shard, if any.
	Shard *suite.ShardRef
	// Found is what discovery found (plans and skipped files).
	Found suite.Found
}

// loadSuite finds the plans among args (files and folders), loads and
// validates every one (all problems of all plans together), expands their
// matrices and selects the cells. Usage errors (a bad selector, a report
// that cannot be read) come before any plan is loaded.
func loadSuite(args []string, in inputs, sel selection) (*suitePlans, error) {
	selector, err := suite.ParseSelector(sel.selector)
	if err != nil {
		return nil, fmt.Errorf("%w: --selector: %v", ErrUsage, err)
	}
	out := &suitePlans{Timings: suite.Timings{}}
	if sel.shard != "" {
		ref, err := suite.ParseShard(sel.shard)
		if err != nil {
			return nil, fmt.Errorf("%w: --shard: %v", ErrUsage, err)
		}
		out.Shard = &ref
	}
	if len(sel.timings) > 0 {
		reps, err := readReports(sel.timings)
		if err != nil {
			return nil, fmt.Errorf("%w: --timings: %v", ErrUsage, err)
		}
		out.Timings = suite.TimingsFrom(reps)
	}
	var rerun map[string]bool
	if sel.rerunFailed != "" {
		r, err := report.Read(sel.rerunFailed, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: --rerun-failed: %v", ErrUsage, err)
		}
		rerun = suite.Unfinished(r)
	}
	out.Found, err = suite.Discover(args)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if len(out.Found.Plans) == 0 {
		return nil, fmt.Errorf("%w: no plans in %v (a plan is a YAML file whose first document has steps)", ErrUsage, args)
	}
	plans, err := loadPlans(out.Found.Plans, in)
	if err != nil {
		return nil, err
	}
	var cells []suite.Cell
	byID := map[string]*engine.Plan{}
	for _, p := range plans {
		for _, c := range p.Cells() {
			if prev, dup := byID[c.ID]; dup {
				return nil, fmt.Errorf("%w: cell %s is in both %s and %s: plan names must differ within a suite", ErrUsage, c.ID, prev.File, c.File)
			}
			byID[c.ID] = c
			cells = append(cells, cellOf(c))
		}
	}
	if len(sel.cells) > 0 {
		want := map[string]bool{}
		for _, id := range sel.cells {
			if _, ok := byID[id]; !ok {
				return nil, fmt.Errorf("%w: --cell %s: no such cell among the plans given (runner list shows their ids)", ErrUsage, id)
			}
			want[id] = true
		}
		cells = suite.Only(cells, want)
	}
	cells = suite.Select(cells, selector)
	if rerun != nil {
		cells = suite.Only(cells, rerun)
	}
	if out.Shard != nil {
		cells = suite.PartitionParallel(cells, out.Shard.Count, sel.parallel, out.Timings.Seconds)[out.Shard.Index-1].Cells
	}
	out.Cells = cells
	for _, c := range cells {
		out.Plans = append(out.Plans, byID[c.ID])
	}
	return out, nil
}

func cellOf(p *engine.Plan) suite.Cell {
	c := suite.Cell{
		ID: p.ID, Plan: p.File, Name: p.Name, Labels: maps.Clone(p.Labels), Vars: maps.Clone(p.Cell),
		Locks: slices.Clone(p.Locks), Timeout: p.Timeout,
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	if c.Vars == nil {
		c.Vars = map[string]any{}
	}
	return c
}

// readReports reads every report.json among paths (files, or folders
// holding them), with the step kinds' detail types.
func readReports(paths []string) ([]*report.Report, error) {
	files, err := report.FindReports(paths)
	if err != nil {
		return nil, err
	}
	var out []*report.Report
	var errs []error
	details := steps.Kinds().Details()
	for _, f := range files {
		r, err := report.Read(f, details)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}
