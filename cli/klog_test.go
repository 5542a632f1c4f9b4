package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// client-go logs through klog; with --log-format json those lines must be
// JSON like every other line on stderr.
func TestKlogLinesAreJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	routeKlog(log)
	defer klog.ClearLogger()
	klog.Errorf("Unexpected error when reading response body: %v", errors.New("unexpected EOF"))
	klog.Warningf("Throttling request took %v", "1s")
	klog.InfoS("structured", "key", "value")
	klog.V(5).InfoS("verbose, dropped")
	klog.Flush()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %d:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("not JSON: %q", l)
		}
		if m["from"] != "client-go" {
			t.Errorf("line without from=client-go: %q", l)
		}
	}
}

// TestConsoleDurations: a step's "took" is milliseconds in JSON and a
// duration as the summary writes it on the console.
func TestConsoleDurations(t *testing.T) {
	for _, tt := range []struct {
		format string
		took   time.Duration
		want   string
	}{
		{"console", 2312571 * time.Microsecond, "took=2.31s"},
		{"console", 67396 * time.Microsecond, "took=67.4ms"},
		{"json", 2312571 * time.Microsecond, `"took":2312.571`},
	} {
		var b bytes.Buffer
		log, err := newLogger(&b, tt.format, "info")
		if err != nil {
			t.Fatal(err)
		}
		log.Info().Dur("took", tt.took).Msg("step passed")
		if !strings.Contains(b.String(), tt.want) {
			t.Errorf("%s %v: %q, want it to contain %q", tt.format, tt.took, b.String(), tt.want)
		}
	}
}
