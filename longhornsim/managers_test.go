package longhornsim

import "testing"

func TestParseMetricsVersion(t *testing.T) {
	tests := []struct {
		in             string
		ok             bool
		wq, eng, label bool // work queues (1.3), engines/replicas (1.9), labelled state (1.11)
	}{
		{"1.2", true, false, false, false},
		{"v1.3", true, true, false, false},
		{"1.8", true, true, false, false},
		{"1.10", true, true, true, false},
		{"1.11", true, true, true, true},
		{"2.0", true, true, true, true},
		{"latest", false, false, false, false},
	}
	for _, tt := range tests {
		v, err := parseMetricsVersion(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parseMetricsVersion(%q): %v", tt.in, err)
			continue
		}
		if !tt.ok {
			continue
		}
		if got := [3]bool{v.atLeast(1, 3), v.atLeast(1, 9), v.atLeast(1, 11)}; got != [3]bool{tt.wq, tt.eng, tt.label} {
			t.Errorf("%s: work queues, engines, labelled state = %v", tt.in, got)
		}
	}
	if _, err := (Options{MetricsVersion: "one"}).withDefaults(); err == nil {
		t.Error("withDefaults accepted metrics version one")
	}
	if o, _ := (Options{}).withDefaults(); o.MetricsVersion != DefaultMetricsVersion {
		t.Errorf("default metrics version %q", o.MetricsVersion)
	}
}
