package metrics

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// Named is a query under the name a plan gives it.
type Named struct {
	Name  string
	Query *Query
}

// Record is what a measurement saw: every series of every query, with its
// points, min, max and last. It is report.json's shape.
type Record struct {
	Source       string     `json:"source" doc:"Where the values were read: pods of a namespace and selector, or a Prometheus URL."`
	EverySeconds float64    `json:"everySeconds" doc:"The sampling interval."`
	Start        time.Time  `json:"start" doc:"When sampling began; point times are seconds since then."`
	Reads        int        `json:"reads" doc:"Reads that returned values."`
	FailedReads  int        `json:"failedReads,omitempty" doc:"Reads that failed (the source unreachable, every pod refused)."`
	Errors       []string   `json:"errors,omitempty" doc:"The distinct errors of failed reads (the first few)."`
	LastError    string     `json:"lastError,omitempty" doc:"The error of the last failed read."`
	Notes        []string   `json:"notes,omitempty" doc:"Problems that did not fail a read, e.g. a pod that could not be scraped (the first few)."`
	Measured     []Measured `json:"measured"`
}

// Measured is one named query's series.
type Measured struct {
	Name  string `json:"name"`
	Query string `json:"query"`
	// Absent is true when no read returned a sample: the metric is missing
	// (an older Longhorn, a build without it), never zero.
	Absent bool     `json:"absent" doc:"No read returned a sample of this query: the metric is missing, not zero."`
	Series []Series `json:"series,omitempty"`
}

// Series is one label set's values over the measurement.
type Series struct {
	Labels map[string]string `json:"labels"`
	Min    float64           `json:"min"`
	Max    float64           `json:"max"`
	Last   float64           `json:"last"`
	Points []Point           `json:"samples" doc:"Every read's value, thinned evenly past 2000."`
}

// Point is a value at T seconds after the measurement's start.
type Point struct {
	T float64 `json:"t"`
	V float64 `json:"v"`
}

// maxPoints bounds the points kept per series; older ones are thinned.
const maxPoints = 2000

// maxNotes bounds the distinct errors and notes kept.
const maxNotes = 8

// Stat is what an assertion sees of a measured query: over every point of
// every series, min, max and mean; last is the largest last value of the
// series (the only one's, for an aggregated query such as sum(...)).
// Absent is true, and the numbers NaN, when nothing was read.
type Stat struct {
	Min, Max, Mean, Last, First float64
	Absent                      bool
	Series, Samples             int
}

// CheckValue is how an assertion's message shows the stat.
func (s Stat) CheckValue() string {
	if s.Absent {
		return "absent"
	}
	f := func(v float64) string { return FormatValue(v) }
	return fmt.Sprintf("{min %s, max %s, mean %s, first %s, last %s; %d series, %d samples}",
		f(s.Min), f(s.Max), f(s.Mean), f(s.First), f(s.Last), s.Series, s.Samples)
}

// FormatValue writes a metric value with up to four significant digits.
func FormatValue(v float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.4g", v), ".0")
}

// Stat summarises m for assertions.
func (m Measured) Stat() Stat {
	nan := math.NaN()
	st := Stat{Min: nan, Max: nan, Mean: nan, Last: nan, First: nan, Absent: m.Absent, Series: len(m.Series)}
	if m.Absent || len(m.Series) == 0 {
		st.Absent = true
		return st
	}
	var sum float64
	firstT := math.Inf(1)
	for _, s := range m.Series {
		for _, p := range s.Points {
			if st.Samples == 0 || p.V < st.Min {
				st.Min = p.V
			}
			if st.Samples == 0 || p.V > st.Max {
				st.Max = p.V
			}
			sum += p.V
			st.Samples++
		}
		if len(s.Points) > 0 {
			if math.IsNaN(st.Last) || s.Last > st.Last {
				st.Last = s.Last
			}
			if p := s.Points[0]; p.T < firstT || (p.T == firstT && p.V > st.First) {
				firstT, st.First = p.T, p.V
			}
		}
	}
	if st.Samples > 0 {
		st.Mean = sum / float64(st.Samples)
	}
	return st
}

// Recorder samples named queries from a source at an interval.
type Recorder struct {
	src     Source
	queries []*Query
	every   time.Duration
	cancel  context.CancelFunc
	done    chan struct{}

	mu  sync.Mutex
	rec *Record
	idx []map[model.Fingerprint]int // per query: series fingerprint -> index in Series
}

// Start reads queries from src at once and then every interval until Stop.
// A failed read is counted and kept as an error; it never stops sampling.
func Start(ctx context.Context, src Source, named []Named, every time.Duration) *Recorder {
	r := &Recorder{src: src, every: every, done: make(chan struct{}),
		rec: &Record{Source: src.String(), EverySeconds: every.Seconds(), Start: time.Now(), Measured: []Measured{}}}
	for _, n := range named {
		r.queries = append(r.queries, n.Query)
		r.rec.Measured = append(r.rec.Measured, Measured{Name: n.Name, Query: n.Query.Source, Absent: true})
		r.idx = append(r.idx, map[model.Fingerprint]int{})
	}
	ctx, r.cancel = context.WithCancel(ctx)
	go r.loop(ctx)
	return r
}

func (r *Recorder) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		r.readOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readTimeout bounds one read: the interval, at least 5 s.
func (r *Recorder) readTimeout() time.Duration { return max(r.every, 5*time.Second) }

func (r *Recorder) readOnce(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, r.readTimeout())
	defer cancel()
	reading, err := r.src.Read(rctx, r.queries)
	if ctx.Err() != nil {
		return // stopped while reading: not a failure of the source
	}
	r.add(reading, err)
}

// Stop ends sampling, takes one last reading (so a short step still has
// its end) and returns the record. It is safe to call once.
func (r *Recorder) Stop(ctx context.Context) *Record {
	r.cancel()
	<-r.done
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.readTimeout())
	defer cancel()
	reading, err := r.src.Read(rctx, r.queries)
	r.add(reading, err)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec
}

// Snapshot returns a copy of the record so far.
func (r *Recorder) Snapshot() Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *r.rec
	c.Measured = slices.Clone(c.Measured)
	return c
}

func addNote(list []string, s string) []string {
	if len(list) >= maxNotes || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func (r *Recorder) add(reading Reading, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range reading.Notes {
		r.rec.Notes = addNote(r.rec.Notes, n)
	}
	if err != nil {
		r.rec.FailedReads++
		r.rec.Errors = addNote(r.rec.Errors, err.Error())
		r.rec.LastError = err.Error()
		return
	}
	r.rec.Reads++
	t := reading.At.Sub(r.rec.Start).Seconds()
	for qi, v := range reading.Vectors {
		if qi >= len(r.rec.Measured) {
			break
		}
		m := &r.rec.Measured[qi]
		for _, s := range v {
			val := float64(s.Value)
			if math.IsNaN(val) || math.IsInf(val, 0) {
				continue // JSON has no NaN; a NaN gauge is no value
			}
			fp := s.Metric.Fingerprint()
			i, ok := r.idx[qi][fp]
			if !ok {
				i = len(m.Series)
				r.idx[qi][fp] = i
				m.Series = append(m.Series, Series{Labels: labelMap(s.Metric), Min: val, Max: val})
			}
			se := &m.Series[i]
			se.Min, se.Max, se.Last = math.Min(se.Min, val), math.Max(se.Max, val), val
			se.Points = appendPoint(se.Points, Point{T: t, V: val})
			m.Absent = false
		}
	}
}

func appendPoint(pts []Point, p Point) []Point {
	if len(pts) >= maxPoints {
		kept := pts[:0]
		for i, q := range pts {
			if i%2 == 0 {
				kept = append(kept, q)
			}
		}
		pts = kept
	}
	return append(pts, p)
}

func labelMap(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

// LabelText writes labels as {a="1", b="2"}, sorted, without __name__
// in the braces (it leads instead).
func LabelText(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if k == model.MetricNameLabel {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%q", k, l[k]))
	}
	return l[model.MetricNameLabel] + "{" + strings.Join(parts, ", ") + "}"
}

// SortSeries orders a measured query's series by their labels, for stable
// output.
func SortSeries(m *Measured) {
	sort.SliceStable(m.Series, func(i, j int) bool { return LabelText(m.Series[i].Labels) < LabelText(m.Series[j].Labels) })
}
