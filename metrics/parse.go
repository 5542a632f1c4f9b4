package metrics

import (
	"fmt"
	"io"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse reads the Prometheus text exposition format from r and returns one
// sample per series at time at: counters, gauges and untyped metrics as
// they are, histograms and summaries as Prometheus stores them
// (name_bucket{le}, name{quantile}, name_sum, name_count).
func Parse(r io.Reader, at time.Time) (model.Vector, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics text: %w", err)
	}
	fams := make([]*dto.MetricFamily, 0, len(families))
	for _, f := range families {
		fams = append(fams, f)
	}
	v, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.TimeFromUnixNano(at.UnixNano())}, fams...)
	if err != nil {
		return nil, fmt.Errorf("read metric samples: %w", err)
	}
	return v, nil
}
