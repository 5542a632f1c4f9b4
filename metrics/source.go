package metrics

import (
	"context"
	"time"

	"github.com/prometheus/common/model"
)

// Source reads the current value of queries: one vector per query, in
// order. An empty vector means the query selected nothing (absent). Notes
// say what was read and what could not be (a pod whose scrape failed),
// without failing the read.
type Source interface {
	Read(ctx context.Context, queries []*Query) (Reading, error)
	// String names the source for people: "pods longhorn-system/app=...".
	String() string
}

// Reading is what one Read returned.
type Reading struct {
	At      time.Time
	Vectors []model.Vector
	// Notes are problems that did not fail the read, e.g. "pod
	// longhorn-manager-x: forbidden".
	Notes []string
	// Targets is how many pods (or servers) were read.
	Targets int
}
