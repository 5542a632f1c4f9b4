package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
)

// VerbResource keys the API server's request counters.
type VerbResource struct {
	Verb     string `json:"verb"`
	Resource string `json:"resource"` // empty for non-resource URLs such as /version
}

// RequestCounts is apiserver_request_total summed over everything but verb
// and resource (code, group, version, scope, component...).
type RequestCounts map[VerbResource]float64

// ScrapeRequests reads the API server's /metrics through rc.
func ScrapeRequests(ctx context.Context, rc rest.Interface) (RequestCounts, error) {
	raw, err := rc.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	return ParseRequestTotal(bytes.NewReader(raw))
}

// ParseRequestTotal reads the apiserver_request_total samples of a
// Prometheus text exposition.
func ParseRequestTotal(r io.Reader) (RequestCounts, error) {
	const name = "apiserver_request_total{"
	out := RequestCounts{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			return nil, fmt.Errorf("malformed sample: %q", line)
		}
		labels, err := parseLabels(line[len(name):end])
		if err != nil {
			return nil, fmt.Errorf("%w in %q", err, line)
		}
		fields := strings.Fields(line[end+1:])
		if len(fields) == 0 {
			return nil, fmt.Errorf("no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("value in %q: %w", line, err)
		}
		out[VerbResource{Verb: labels["verb"], Resource: labels["resource"]}] += v
	}
	return out, sc.Err()
}

// parseLabels reads `a="x",b="y\"z"`.
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return nil, fmt.Errorf("malformed labels")
		}
		key := s[:eq]
		s = s[eq+2:]
		var b strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
				continue
			}
			b.WriteByte(s[i])
		}
		if i == len(s) {
			return nil, fmt.Errorf("unterminated label value")
		}
		out[key] = b.String()
		s = strings.TrimPrefix(s[i+1:], ",")
	}
	return out, nil
}

// Sub returns c − before for every key of c.
func (c RequestCounts) Sub(before RequestCounts) RequestCounts {
	out := RequestCounts{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// Total sums every counter.
func (c RequestCounts) Total() float64 {
	t := 0.0
	for _, v := range c {
		t += v
	}
	return t
}

// Resource sums the counters of one resource, all verbs.
func (c RequestCounts) Resource(resource string) float64 {
	t := 0.0
	for k, v := range c {
		if k.Resource == resource {
			t += v
		}
	}
	return t
}

// ByVerb sums the counters of one resource per verb.
func (c RequestCounts) ByVerb(resource string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range c {
		if k.Resource == resource {
			out[k.Verb] += v
		}
	}
	return out
}
