package metrics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// PromSource queries a Prometheus-compatible server's HTTP API
// (/api/v1/query) at the time of each read. It is safe for concurrent use.
type PromSource struct {
	url string
	api promv1.API
}

// NewPromSource returns a source for the server at url
// (http://prometheus.monitoring:9090).
func NewPromSource(url string) (*PromSource, error) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", url, err)
	}
	return &PromSource{url: url, api: promv1.NewAPI(c)}, nil
}

func (s *PromSource) String() string { return "prometheus " + s.url }

// Read runs each query at now. A query whose answer is not an instant
// vector (a scalar: wrap it, e.g. vector(1)) is an error; warnings are
// notes.
func (s *PromSource) Read(ctx context.Context, queries []*Query) (Reading, error) {
	r := Reading{At: time.Now(), Targets: 1}
	for _, q := range queries {
		val, warnings, _, err := s.api.Query(ctx, q.Source, r.At)
		if err != nil {
			return r, fmt.Errorf("query %s at %s: %w", q.Source, s.url, err)
		}
		for _, w := range warnings {
			r.Notes = append(r.Notes, "query "+q.Source+": "+w)
		}
		switch v := val.(type) {
		case model.Vector:
			r.Vectors = append(r.Vectors, v)
		case *model.Scalar:
			r.Vectors = append(r.Vectors, model.Vector{{Metric: model.Metric{}, Value: v.Value, Timestamp: v.Timestamp}})
		default:
			return r, fmt.Errorf("query %s: got a %s, want an instant vector (a range vector needs a function such as rate(...[1m]))", q.Source, strings.ToLower(val.Type().String()))
		}
	}
	return r, nil
}
