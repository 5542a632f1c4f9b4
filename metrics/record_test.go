package metrics

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// scriptSource returns its readings in turn, then the last one again.
type scriptSource struct {
	mu    sync.Mutex
	steps []func() (Reading, error)
	n     int
}

func (s *scriptSource) String() string { return "script" }

func (s *scriptSource) Read(context.Context, []*Query) (Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	return f()
}

func depth(v float64, pods ...string) func() (Reading, error) {
	return func() (Reading, error) {
		var vec model.Vector
		for i, p := range pods {
			vec = append(vec, &model.Sample{Metric: model.Metric{"pod": model.LabelValue(p)}, Value: model.SampleValue(v + float64(i))})
		}
		return Reading{At: time.Now(), Vectors: []model.Vector{vec, nil}}, nil
	}
}

func TestRecorderKeepsSeriesAndAbsence(t *testing.T) {
	src := &scriptSource{steps: []func() (Reading, error){
		depth(1, "a", "b"),
		func() (Reading, error) { return Reading{}, errors.New("connection refused") },
		depth(5, "a", "b"),
		depth(2, "a"),
	}}
	qs := compileAll(t, `longhorn_workqueue_depth`, `longhorn_engine_state`)
	rec := Start(context.Background(), src, []Named{{"depth", qs[0]}, {"engines", qs[1]}}, 10*time.Millisecond)
	for src.n < 4 {
		time.Sleep(5 * time.Millisecond)
	}
	r := rec.Stop(context.Background())
	if r.FailedReads != 1 || !strings.Contains(strings.Join(r.Errors, ""), "connection refused") {
		t.Errorf("failed reads %d, errors %v: want the refused read counted", r.FailedReads, r.Errors)
	}
	d := r.Measured[0]
	if d.Absent || len(d.Series) != 2 {
		t.Fatalf("depth: absent %v, %d series; want 2 series", d.Absent, len(d.Series))
	}
	a := d.Series[0]
	if a.Labels["pod"] != "a" || a.Min != 1 || a.Max != 5 || a.Last != 2 {
		t.Errorf("series a: %+v; want min 1, max 5, last 2", a)
	}
	st := d.Stat()
	if st.Max != 6 || st.Min != 1 || st.First != 2 || st.Last != 6 || st.Series != 2 {
		t.Errorf("stat %+v", st)
	}
	e := r.Measured[1]
	if !e.Absent || len(e.Series) != 0 {
		t.Errorf("engines: %+v, want absent", e)
	}
	if st := e.Stat(); !st.Absent || !math.IsNaN(st.Max) || st.CheckValue() != "absent" {
		t.Errorf("absent stat %+v (%s): want absent, NaN", st, st.CheckValue())
	}
}

func TestStat(t *testing.T) {
	m := Measured{Series: []Series{
		{Last: 3, Points: []Point{{0, 1}, {1, 4}, {2, 3}}},
		{Last: 7, Points: []Point{{1, 7}}},
	}}
	st := m.Stat()
	want := Stat{Min: 1, Max: 7, Mean: 15.0 / 4, Last: 7, First: 1, Series: 2, Samples: 4}
	if st != want {
		t.Errorf("Stat() = %+v, want %+v", st, want)
	}
	if got := st.CheckValue(); got != "{min 1, max 7, mean 3.75, first 1, last 7; 2 series, 4 samples}" {
		t.Errorf("CheckValue() = %s", got)
	}
}
