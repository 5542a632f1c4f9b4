package scenarios_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// probeMeasured reads, from report.json in dir, what the timeProbe named
// probe measured of query: its largest sample over every series, and
// whether it was absent (no read returned a sample). It fails the test when
// the probe or its measure is missing from the report.
func probeMeasured(t *testing.T, dir, probe, query string) (maxValue float64, absent bool) {
	t.Helper()
	var rep struct {
		Plans []struct {
			Steps []struct {
				Detail struct {
					Name    string `json:"name"`
					Measure *struct {
						Measured []struct {
							Name   string `json:"name"`
							Absent bool   `json:"absent"`
							Series []struct {
								Max float64 `json:"max"`
							} `json:"series"`
						} `json:"measured"`
					} `json:"measure"`
				} `json:"detail"`
			} `json:"steps"`
		} `json:"plans"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "report.json"))), &rep); err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Plans {
		for _, s := range p.Steps {
			if s.Detail.Name != probe || s.Detail.Measure == nil {
				continue
			}
			for _, q := range s.Detail.Measure.Measured {
				if q.Name != query {
					continue
				}
				for i, se := range q.Series {
					if i == 0 || se.Max > maxValue {
						maxValue = se.Max
					}
				}
				return maxValue, q.Absent
			}
		}
	}
	t.Fatalf("report.json in %s has no measure of %s in timeProbe %s", dir, query, probe)
	return 0, true
}
