package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scenario-runner/runner/result"
)

// statusOrder lists cell statuses worst first, as the outputs show them.
var statusOrder = []string{StatusNewlyFailing, StatusRegressed, StatusStillFailing, StatusMissing, StatusNew, StatusFixed, StatusSame}

// WriteJSON writes the comparison as JSON.
func (c *Comparison) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(c)
}

// Verdict is the comparison in one line.
func (c *Comparison) Verdict() string {
	var parts []string
	for _, s := range statusOrder {
		if n := c.Counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	head := "OK"
	if c.Failed() {
		head = "FAILED"
	}
	return fmt.Sprintf("%s: %d cell(s): %s; %d statistic(s) regressed", head, len(c.Cells), strings.Join(parts, ", "), c.Regressions)
}

// Rule words the thresholds.
func (c *Comparison) Rule() string {
	return fmt.Sprintf("a timing regresses when it is more than %s slower and more than %s slower in absolute terms, and, with %d or more samples on both sides, a one-sided Mann-Whitney U test gives p < %g (else: noise)",
		percent(c.Options.MaxSlowdown), result.FormatSeconds(c.Options.MinDeltaSeconds), c.Options.MinSamples, c.Options.Alpha)
}

func percent(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", f*100), ".0") + "%" }

func (s Side) label() string {
	var parts []string
	if !s.Start.IsZero() {
		parts = append(parts, s.Start.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if s.ClusterVersion != "" {
		parts = append(parts, s.ClusterVersion)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Meta)) {
		parts = append(parts, k+"="+s.Meta[k])
	}
	if len(parts) == 0 {
		return s.File
	}
	return s.File + " (" + strings.Join(parts, ", ") + ")"
}

// shown are the metrics worth a line: all but the unchanged ones.
func (cd CellDiff) shown() []MetricDiff {
	var out []MetricDiff
	for _, m := range cd.Metrics {
		if m.Verdict != VerdictSame {
			out = append(out, m)
		}
	}
	return out
}

func (m MetricDiff) change() string {
	s := fmt.Sprintf("%s → %s (%s", result.FormatSeconds(m.BaselineSeconds), result.FormatSeconds(m.CurrentSeconds), signed(m.DeltaSeconds))
	if m.Ratio > 0 {
		s += fmt.Sprintf(", %.2fx", m.Ratio)
	}
	if m.PValue != nil {
		s += fmt.Sprintf(", p=%.3g, %d/%d samples", *m.PValue, m.BaselineSamples, m.CurrentSamples)
	}
	return s + ")"
}

func signed(s float64) string {
	if s >= 0 {
		return "+" + result.FormatSeconds(s)
	}
	return "-" + result.FormatSeconds(-s)
}

// sorted are the cells worst status first, then by id.
func (c *Comparison) sorted() []CellDiff {
	out := slices.Clone(c.Cells)
	slices.SortStableFunc(out, func(a, b CellDiff) int {
		if d := slices.Index(statusOrder, a.Status) - slices.Index(statusOrder, b.Status); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// WriteText writes the comparison for a terminal: one line per cell that
// changed, one indented line per timing that moved.
func (c *Comparison) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "baseline: %s\ncurrent:  %s\n", c.Baseline.label(), c.Current.label())
	for _, cd := range c.sorted() {
		if cd.Status == StatusSame && len(cd.shown()) == 0 && len(cd.VarsChanged) == 0 {
			continue
		}
		fmt.Fprintf(w, "%-14s %s", strings.ToUpper(cd.Status), cd.ID)
		if cd.Baseline != "" && cd.Current != "" && cd.Baseline != cd.Current {
			fmt.Fprintf(w, " (%s → %s)", cd.Baseline, cd.Current)
		}
		fmt.Fprintln(w)
		if cd.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", cd.Error)
		}
		if len(cd.VarsChanged) > 0 {
			fmt.Fprintf(w, "  note: the vars differ, timings may not compare: %s\n", strings.Join(cd.VarsChanged, ", "))
		}
		for _, m := range cd.shown() {
			fmt.Fprintf(w, "  %-10s %s: %s\n", m.Verdict, m.Name, m.change())
		}
	}
	fmt.Fprintln(w, c.Verdict())
	_, err := fmt.Fprintf(w, "(%s)\n", c.Rule())
	return err
}

// WriteMarkdown writes the comparison for $GITHUB_STEP_SUMMARY or a pull
// request comment: the verdict, a table of what changed, and every timing
// of every cell folded away.
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	mark := "✅"
	if c.Failed() {
		mark = "❌"
	}
	fmt.Fprintf(w, "### %s runner report compare\n\n", mark)
	fmt.Fprintf(w, "**%s**\n\n", c.Verdict())
	fmt.Fprintf(w, "| | report |\n|---|---|\n| baseline | %s |\n| current | %s |\n\n", mdEscape(c.Baseline.label()), mdEscape(c.Current.label()))
	var changed []CellDiff
	for _, cd := range c.sorted() {
		if cd.Status != StatusSame || len(cd.shown()) > 0 {
			changed = append(changed, cd)
		}
	}
	if len(changed) > 0 {
		fmt.Fprintln(w, "| cell | status | timing | baseline | current | change | p |")
		fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|")
		for _, cd := range changed {
			status := cd.Status
			if cd.Baseline != "" && cd.Current != "" && cd.Baseline != cd.Current {
				status += fmt.Sprintf(" (%s → %s)", cd.Baseline, cd.Current)
			}
			if len(cd.VarsChanged) > 0 {
				status += " ⚠️ vars differ: " + strings.Join(cd.VarsChanged, ", ")
			}
			ms := cd.shown()
			if len(ms) == 0 {
				fmt.Fprintf(w, "| `%s` | %s | %s | | | | |\n", mdEscape(cd.ID), status, mdEscape(cd.Error))
			}
			for i, m := range ms {
				id := ""
				if i == 0 {
					id = "`" + mdEscape(cd.ID) + "`"
				}
				fmt.Fprintf(w, "| %s | %s | %s %s | %s | %s | %s | %s |\n", id, status, verdictMark(m.Verdict), mdEscape(m.Name),
					result.FormatSeconds(m.BaselineSeconds), result.FormatSeconds(m.CurrentSeconds), ratioText(m), pText(m))
				status = ""
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "<details><summary>Every timing of every cell</summary>\n\n")
	fmt.Fprintln(w, "| cell | timing | baseline | current | change | p | verdict |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|")
	for _, cd := range c.Cells {
		for _, m := range cd.Metrics {
			fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s | %s | %s |\n", mdEscape(cd.ID), mdEscape(m.Name),
				result.FormatSeconds(m.BaselineSeconds), result.FormatSeconds(m.CurrentSeconds), ratioText(m), pText(m), m.Verdict)
		}
	}
	fmt.Fprintf(w, "\n</details>\n\n")
	_, err := fmt.Fprintf(w, "<sub>%s</sub>\n", mdEscape(c.Rule()))
	return err
}

func verdictMark(v string) string {
	switch v {
	case VerdictRegressed:
		return "🔺"
	case VerdictImproved:
		return "🔽"
	case VerdictNoise:
		return "〰️"
	}
	return ""
}

func ratioText(m MetricDiff) string {
	if m.Ratio == 0 {
		return signed(m.DeltaSeconds)
	}
	return fmt.Sprintf("%s (%.2fx)", signed(m.DeltaSeconds), m.Ratio)
}

func pText(m MetricDiff) string {
	if m.PValue == nil {
		return ""
	}
	return fmt.Sprintf("%.3g", *m.PValue)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

var comparePage = template.Must(template.New("compare").Funcs(template.FuncMap{
	"dur":   result.FormatSeconds,
	"ratio": ratioText,
	"p":     pText,
	"upper": strings.ToUpper,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>runner report compare</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.regressed,.newly-failing{background:#fdd}.improved,.fixed{background:#dfd}.noise{background:#ffd}.missing,.new,.still-failing{background:#eee}
h2{margin-top:1.5em}code{font-size:13px}
</style></head><body>
<h1>{{.C.Verdict}}</h1>
<p>{{.C.Rule}}.</p>
<table><tr><th></th><th>baseline</th><th>current</th></tr>
<tr><th>report</th><td>{{.C.Baseline.File}}</td><td>{{.C.Current.File}}</td></tr>
<tr><th>started</th><td>{{.BaseStart}}</td><td>{{.CurStart}}</td></tr>
<tr><th>cluster</th><td>{{.C.Baseline.ClusterVersion}}</td><td>{{.C.Current.ClusterVersion}}</td></tr>
<tr><th>meta</th><td>{{range $k, $v := .C.Baseline.Meta}}{{$k}}={{$v}} {{end}}</td><td>{{range $k, $v := .C.Current.Meta}}{{$k}}={{$v}} {{end}}</td></tr>
<tr><th>outcome</th><td>{{.C.Baseline.Outcome}}</td><td>{{.C.Current.Outcome}}</td></tr>
</table>
{{range .Cells}}<h2 class="{{.Status}}"><code>{{.ID}}</code>: {{upper .Status}}{{if and .Baseline .Current}} ({{.Baseline}} → {{.Current}}){{end}}</h2>
{{with .Error}}<pre>{{.}}</pre>{{end}}
{{with .VarsChanged}}<p>⚠ The vars differ, timings may not compare: {{range .}}<code>{{.}}</code> {{end}}</p>{{end}}
{{if .Metrics}}<table><tr><th>timing</th><th>baseline</th><th>current</th><th>change</th><th>p</th><th>samples</th><th>verdict</th></tr>
{{range .Metrics}}<tr class="{{.Verdict}}"><td>{{.Name}}</td><td class="n">{{dur .BaselineSeconds}}</td><td class="n">{{dur .CurrentSeconds}}</td><td class="n">{{ratio .}}</td><td class="n">{{p .}}</td><td class="n">{{.BaselineSamples}} / {{.CurrentSamples}}</td><td>{{.Verdict}}</td></tr>
{{end}}</table>{{end}}
{{end}}
<footer>Written by runner report compare. Self-contained: no scripts, nothing fetched.</footer>
</body></html>
`))

// WriteHTML writes the comparison as one self-contained page: baseline and
// current side by side for every timing of every cell, worst first.
func (c *Comparison) WriteHTML(w io.Writer) error {
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	return comparePage.Execute(w, struct {
		C                   *Comparison
		Cells               []CellDiff
		BaseStart, CurStart string
	}{c, c.sorted(), when(c.Baseline.Start), when(c.Current.Start)})
}
