package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scenario-runner/runner/report"
	"github.com/scenario-runner/runner/steps"
)

func newReportCommand(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Merge, compare and chart report.json files of earlier runs (no cluster)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newReportMergeCommand(streams), newReportCompareCommand(streams), newReportTrendCommand(streams))
	for _, c := range cmd.Commands() {
		wrapArgs(c)
	}
	return cmd
}

// readInputs reads report.json files, and every report.json below folders,
// each as an Input named by its path. Any file that is not a report of this
// runner's schema version is a usage error naming it.
func readInputs(paths []string) ([]report.Input, error) {
	files, err := report.FindReports(paths)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	details := steps.Kinds().Details()
	var out []report.Input
	for _, f := range files {
		r, err := report.Read(f, details)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		out = append(out, report.Input{File: f, Report: r})
	}
	return out, nil
}

func newReportMergeCommand(streams Streams) *cobra.Command {
	var dir string
	var latest bool
	cmd := &cobra.Command{
		Use:   "merge INPUT... --report-dir OUT",
		Short: "Merge report.json files (or folders holding them, e.g. CI artifacts) into one report",
		Long: `merge writes one report.json, junit.xml and report.html over every cell of
every input, each cell marked with the report it came from (and that report's
--shard). A file of another schema version or a corrupt one is an error
naming the file (exit 2), as is a cell found in two inputs unless --latest
keeps the run that started last (e.g. a --rerun-failed run beside the first).`,
		Example: `  runner report merge artifacts/ --report-dir merged
  runner report merge nightly/report.json rerun/report.json --latest --report-dir merged`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("%w: --report-dir is required", ErrUsage)
			}
			in, err := readInputs(args)
			if err != nil {
				return err
			}
			merged, err := report.Merge(in, report.MergeOptions{Latest: latest})
			if err != nil {
				return fmt.Errorf("%w: %v", ErrUsage, err)
			}
			// the inputs were written masked; this invocation has no secrets
			paths, err := report.WriteDir(dir, merged, streams.Secrets)
			for _, p := range paths {
				fmt.Fprintf(streams.Err, "report: %s\n", p)
			}
			if err != nil {
				return fmt.Errorf("--report-dir: %w", err)
			}
			fmt.Fprintf(streams.Out, "merged %d report(s): %d cell(s), %s\n", len(in), len(merged.Plans), merged.Outcome)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "report-dir", "", "folder to write the merged report.json, junit.xml and report.html into")
	cmd.Flags().BoolVar(&latest, "latest", false, "a cell found in several inputs is kept from the run that started last (else an error)")
	return cmd
}

// oneReport reads path as one report: a report.json, or a folder whose
// report.json files (e.g. the shards of a run) are merged.
func oneReport(path string) (report.Input, error) {
	in, err := readInputs([]string{path})
	if err != nil {
		return report.Input{}, err
	}
	if len(in) == 1 {
		return in[0], nil
	}
	m, err := report.Merge(in, report.MergeOptions{Latest: true})
	if err != nil {
		return report.Input{}, fmt.Errorf("%w: %s: %v", ErrUsage, path, err)
	}
	return report.Input{File: path, Report: m}, nil
}

// parseRatio reads 20% or 0.2.
func parseRatio(s string) (float64, error) {
	s = strings.TrimSpace(s)
	div := 1.0
	if t, ok := strings.CutSuffix(s, "%"); ok {
		s, div = t, 100
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%w: --max-slowdown %q: expected a percentage such as 20%% or a ratio such as 0.2", ErrUsage, s)
	}
	return f / div, nil
}

func newReportCompareCommand(streams Streams) *cobra.Command {
	var (
		slowdown, output, dir string
		minDelta              time.Duration
	)
	o := report.DefaultCompareOptions()
	cmd := &cobra.Command{
		Use:   "compare BASELINE CURRENT",
		Short: "Compare a run against a baseline: what failed anew, what got slower (exit 1)",
		Long: `compare matches the cells of two reports by id (BASELINE and CURRENT are
report.json files, or folders whose report.json files are merged, e.g. the
shards of one CI run) and compares, for each cell: the outcome (newly
failing, fixed, missing, new), its duration, each step's duration (a
waitFor's is its time to satisfaction) and every statistic of steps with
samples (a timeProbe's p50, p90, p99, max, mean). Timings are compared when
the cell passed on both sides.

A timing regresses when it is slower by more than --max-slowdown and by
more than --min-delta; when both sides have 5 or more samples, also only
when a one-sided Mann-Whitney U test (exact without ties, else the normal
approximation) finds the current samples larger with p < 0.05; a change the
test cannot tell from noise is shown as noise.

Exit 1 on any regression or newly failing cell, 0 otherwise, 2 when a
report cannot be read. -o markdown is meant for $GITHUB_STEP_SUMMARY;
--report-dir writes compare.html (baseline and current side by side),
compare.json and compare.md.`,
		Example: `  runner report compare last-night/ tonight/ -o markdown >> "$GITHUB_STEP_SUMMARY"
  runner report compare v1.9.1/report.json v1.9.2/report.json --max-slowdown 10% --min-delta 100ms`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "text", "markdown", "json":
			default:
				return fmt.Errorf("%w: -o %q: use text, markdown or json", ErrUsage, output)
			}
			ratio, err := parseRatio(slowdown)
			if err != nil {
				return err
			}
			if minDelta < 0 {
				return fmt.Errorf("%w: --min-delta %s: give 0 or more", ErrUsage, minDelta)
			}
			o.MaxSlowdown, o.MinDelta = ratio, minDelta
			base, err := oneReport(args[0])
			if err != nil {
				return err
			}
			cur, err := oneReport(args[1])
			if err != nil {
				return err
			}
			c := report.Compare(base, cur, o)
			switch output {
			case "json":
				err = c.WriteJSON(streams.Out)
			case "markdown":
				err = c.WriteMarkdown(streams.Out)
			default:
				err = c.WriteText(streams.Out)
			}
			if err != nil {
				return err
			}
			if dir != "" {
				if err := writeComparison(dir, c); err != nil {
					return fmt.Errorf("--report-dir: %w", err)
				}
				fmt.Fprintf(streams.Err, "report: %s\n", filepath.Join(dir, "compare.html"))
			}
			if c.Failed() {
				return fmt.Errorf("%w: %s", ErrFailed, c.Verdict())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slowdown, "max-slowdown", "20%", "how much slower a timing may get before it regresses (20% or 0.2)")
	f.DurationVar(&minDelta, "min-delta", o.MinDelta, "how much slower, in time, a timing must get to regress")
	f.StringVarP(&output, "output", "o", "text", "text, markdown or json")
	f.StringVar(&dir, "report-dir", "", "also write compare.html, compare.json and compare.md into this folder")
	return cmd
}

func writeComparison(dir string, c *report.Comparison) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"compare.html": func(b *bytes.Buffer) error { return c.WriteHTML(b) },
		"compare.json": func(b *bytes.Buffer) error { return c.WriteJSON(b) },
		"compare.md":   func(b *bytes.Buffer) error { return c.WriteMarkdown(b) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			return fmt.Errorf("rendering %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func newReportTrendCommand(streams Streams) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "trend INPUT... -o FILE",
		Short: "Chart each probe statistic and each plan's duration over many reports, in the order they ran (HTML)",
		Long: `trend reads report.json files (or folders holding them, e.g. the artifacts of
the last 30 nightly runs) and writes one self-contained HTML page: for each
cell, its duration and each statistic of its steps with samples (a
timeProbe's p50, p90, p99, max, mean) over the reports, in the order of
their start times, each point labelled by the cluster version and the
--meta key=value pairs the run was given.`,
		Example: `  runner report trend nightly-*/ -o trend.html`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("%w: -o FILE is required", ErrUsage)
			}
			in, err := readInputs(args)
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if err := report.Trend(in).WriteHTML(&b); err != nil {
				return err
			}
			if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(streams.Err, "report: %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the HTML file to write")
	return cmd
}
