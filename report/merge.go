package report

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/scenario-runner/runner/result"
)

// Input is one report to merge and the file it was read from.
type Input struct {
	File   string
	Report *Report
}

// MergeOptions configures Merge.
type MergeOptions struct {
	// Latest keeps, of a cell found in several inputs (a rerun of failed
	// cells beside the first run), the run that started last; without it a
	// cell in two inputs is an error.
	Latest bool
	// Generated is when the merged report is made; zero means now.
	Generated time.Time
}

// Merge makes one report of every cell of every input, in the order of the
// inputs, each plan marked with the file it came from (Source) and the
// inputs listed in Sources. The same run found twice (one file given twice,
// or found in two folders) counts once. The result's outcome is the worst,
// its start the earliest and its end the latest; its meta holds the keys
// every input agrees on.
func Merge(inputs []Input, o MergeOptions) (*Report, error) {
	out := &Report{SchemaVersion: SchemaVersion, Generated: o.Generated, Outcome: result.Passed, Plans: []Plan{}}
	if out.Generated.IsZero() {
		out.Generated = time.Now()
	}
	type where struct {
		input, plan int
	}
	index := map[string]where{}
	runs := map[string]bool{}
	for i, in := range inputs {
		r := in.Report
		src := Source{File: in.File, Shard: r.Shard, Generated: r.Generated, Outcome: r.Outcome, Meta: maps.Clone(r.Meta)}
		if i == 0 {
			out.Runner, out.Cluster = r.Runner, r.Cluster
			out.Meta = maps.Clone(r.Meta)
		} else {
			if out.Cluster != r.Cluster {
				out.Cluster = Cluster{Version: commonString(out.Cluster.Version, r.Cluster.Version), Host: commonString(out.Cluster.Host, r.Cluster.Host), Context: commonString(out.Cluster.Context, r.Cluster.Context)}
			}
			for k, v := range out.Meta {
				if r.Meta[k] != v {
					delete(out.Meta, k)
				}
			}
		}
		for _, p := range r.Plans {
			if p.ID == "" {
				p.ID = p.Name
			}
			if p.Source == "" {
				p.Source = in.File
			}
			key := p.ID + "\x00" + p.RunID + "\x00" + p.Start.String()
			if runs[key] {
				continue // the same run, found twice
			}
			runs[key] = true
			if w, dup := index[p.ID]; dup {
				prev := &out.Plans[w.plan]
				if !o.Latest {
					return nil, fmt.Errorf("cell %s is in both %s and %s (give --latest to keep the run that started last, e.g. after --rerun-failed)", p.ID, inputs[w.input].File, in.File)
				}
				if p.Start.After(prev.Start) {
					*prev = p
					index[p.ID] = where{i, w.plan}
				}
				continue
			}
			index[p.ID] = where{i, len(out.Plans)}
			out.Plans = append(out.Plans, p)
			src.Cells++
		}
		out.Sources = append(out.Sources, src)
	}
	if len(out.Meta) == 0 {
		out.Meta = nil
	}
	for _, p := range out.Plans {
		out.Outcome = result.Worst(out.Outcome, p.Outcome)
		if out.Start.IsZero() || (!p.Start.IsZero() && p.Start.Before(out.Start)) {
			out.Start = p.Start
		}
		if p.End.After(out.End) {
			out.End = p.End
		}
	}
	if out.Start.IsZero() {
		out.Start, out.End = out.Generated, out.Generated
	}
	out.DurationSeconds = seconds(out.End.Sub(out.Start))
	return out, nil
}

// commonString is a when a and b agree, else "".
func commonString(a, b string) string {
	if a == b {
		return a
	}
	return ""
}

// IDs lists the cell ids of r, in order.
func (r *Report) IDs() []string {
	var out []string
	for _, p := range r.Plans {
		out = append(out, p.ID)
	}
	return slices.Clip(out)
}
