package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scenario-runner/runner/result"
	"github.com/scenario-runner/runner/suite"
)

type listOptions struct {
	in     inputs
	sel    selection
	shards int
	output string
}

func newListCommand(streams Streams) *cobra.Command {
	o := &listOptions{in: inputs{secrets: streams.Secrets}}
	cmd := &cobra.Command{
		Use:   "list PATH...",
		Short: "List the cells of plans and folders of plans, optionally packed into shards, without a cluster",
		Long: `list finds the plans among the files and folders given (below a folder, every
YAML file whose first document has steps), validates them, expands their
matrices into cells and prints the cells that --selector picks.

With --shards N the cells are packed into N shards that end together: each
cell's estimate is the median of its durations in the --timings reports,
else its plan's timeout, else 5m; the longest go first, each into the shard
with the least time so far (with --parallel P, into the least loaded of the
shards' P lanes each). The partition depends only on the cells, the timings
and P, so "runner --shard I/N" with the same paths, --selector, --timings
and --parallel runs exactly shard I.

-o github prints {"include": [...]} for a GitHub Actions matrix
(strategy.matrix: ${{ fromJSON(...) }}): one entry per shard with --shards,
else one per cell.`,
		Example: `  runner list scenarios/
  runner list scenarios/ --selector 'tier=nightly' -o json
  runner list scenarios/ --shards 4 --timings last/ -o github`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(streams, o, args)
		},
	}
	f := cmd.Flags()
	o.in.addFlags(f)
	o.sel.addSelectorFlags(f)
	f.IntVar(&o.shards, "shards", 0, "pack the cells into N shards that end together")
	f.IntVar(&o.sel.parallel, "parallel", 1, "the --parallel each shard runs with: a shard is packed as that many lanes, its estimate is its longest lane")
	f.StringVarP(&o.output, "output", "o", "table", "table, json or github")
	return cmd
}

// listEntry is one cell as list -o json prints it.
type listEntry struct {
	suite.Cell
	Shard           int     `json:"shard,omitempty"`
	EstimateSeconds float64 `json:"estimateSeconds"`
	EstimateSource  string  `json:"estimateSource" doc:"timings, timeout or default"`
}

// githubShard is one shard as an entry of a GitHub Actions matrix.
type githubShard struct {
	Name            string   `json:"name"`
	Shard           string   `json:"shard"`
	Index           int      `json:"index"`
	Count           int      `json:"count"`
	Cells           []string `json:"cells"`
	EstimateSeconds float64  `json:"estimateSeconds"`
}

func runList(streams Streams, o *listOptions, args []string) error {
	switch o.output {
	case "table", "json", "github":
	default:
		return fmt.Errorf("%w: -o %q: use table, json or github", ErrUsage, o.output)
	}
	if o.shards < 0 {
		return fmt.Errorf("%w: --shards %d: give 1 or more", ErrUsage, o.shards)
	}
	s, err := loadSuite(args, o.in, o.sel)
	if err != nil {
		renderInvalid(streams.Err, err)
		return err
	}
	var entries []listEntry
	var shards []suite.Shard
	if o.shards > 0 {
		shards = suite.PartitionParallel(s.Cells, o.shards, o.sel.parallel, s.Timings.Seconds)
		for _, sh := range shards {
			for _, c := range sh.Cells {
				entries = append(entries, s.entry(c, sh.Index))
			}
		}
	} else {
		for _, c := range s.Cells {
			entries = append(entries, s.entry(c, 0))
		}
	}
	if entries == nil {
		entries = []listEntry{}
	}
	switch o.output {
	case "json":
		return writeJSON(streams.Out, entries)
	case "github":
		return writeGitHub(streams.Out, entries, shards)
	}
	return writeTable(streams.Out, entries, shards)
}

func (s *suitePlans) entry(c suite.Cell, shard int) listEntry {
	est, src := s.Timings.Estimate(c)
	return listEntry{Cell: c, Shard: shard, EstimateSeconds: est, EstimateSource: src}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// maxGitHubJobs is the most jobs one GitHub Actions matrix may have.
const maxGitHubJobs = 256

func writeGitHub(w io.Writer, entries []listEntry, shards []suite.Shard) error {
	var include []any
	if shards != nil {
		for _, sh := range shards {
			g := githubShard{
				Name: fmt.Sprintf("shard %d of %d", sh.Index, len(shards)), Shard: fmt.Sprintf("%d/%d", sh.Index, len(shards)),
				Index: sh.Index, Count: len(shards), Cells: []string{}, EstimateSeconds: sh.EstimateSeconds,
			}
			for _, c := range sh.Cells {
				g.Cells = append(g.Cells, c.ID)
			}
			include = append(include, g)
		}
	} else {
		for _, e := range entries {
			include = append(include, e)
		}
	}
	if include == nil {
		include = []any{}
	}
	if len(include) > maxGitHubJobs {
		return fmt.Errorf("%w: %d matrix entries: GitHub Actions runs at most %d jobs per matrix; use --shards N", ErrUsage, len(include), maxGitHubJobs)
	}
	// One line: GitHub reads it from $GITHUB_OUTPUT as name=value.
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(map[string]any{"include": include})
}

func writeTable(w io.Writer, entries []listEntry, shards []suite.Shard) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if shards != nil {
		fmt.Fprintln(tw, "SHARD\tCELL\tESTIMATE\tLABELS\tPLAN")
	} else {
		fmt.Fprintln(tw, "CELL\tESTIMATE\tLABELS\tPLAN")
	}
	for _, e := range entries {
		var labels []string
		for _, k := range slices.Sorted(maps.Keys(e.Labels)) {
			labels = append(labels, k+"="+e.Labels[k])
		}
		est := fmt.Sprintf("%s (%s)", result.FormatSeconds(e.EstimateSeconds), e.EstimateSource)
		if shards != nil {
			fmt.Fprintf(tw, "%d\t", e.Shard)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.ID, est, strings.Join(labels, ","), e.Plan)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, sh := range shards {
		fmt.Fprintf(w, "shard %d/%d: %d cell(s), about %s\n", sh.Index, len(shards), len(sh.Cells), result.FormatSeconds(sh.EstimateSeconds))
	}
	if shards == nil {
		fmt.Fprintf(w, "%d cell(s)\n", len(entries))
	}
	return nil
}
