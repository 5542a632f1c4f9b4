package steps

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/metrics"
)

// MetricsSourceSpec says where the metrics step and measure blocks read
// metrics: every pod a selector matches, through the API server's pod
// proxy (no Prometheus needed), or a Prometheus-compatible server by URL.
type MetricsSourceSpec struct {
	Pods       *PodsSourceSpec `yaml:"pods" doc:"Scrape every pod a selector matches through the API server's pod proxy (RBAC: get on pods/proxy), e.g. Longhorn's managers: {namespace: longhorn-system, labelSelector: app=longhorn-manager, port: manager}."`
	Prometheus engine.Text     `yaml:"prometheus" doc:"URL of a Prometheus-compatible server to query with PromQL instead, e.g. http://prometheus.monitoring:9090."`
}

// PodsSourceSpec selects the pods to scrape.
type PodsSourceSpec struct {
	Namespace     engine.Text `yaml:"namespace" doc:"Namespace of the pods (default: defaults.namespace)."`
	LabelSelector engine.Text `yaml:"labelSelector" required:"true" doc:"Pods by label selector, e.g. app=longhorn-manager."`
	Port          engine.Text `yaml:"port" doc:"Container port number or name (default: the pod's first declared port), e.g. manager (Longhorn's 9500)."`
	Path          engine.Text `yaml:"path" doc:"Path of the metrics (default /metrics)."`
}

// boundSource is a compiled MetricsSourceSpec.
type boundSource struct {
	pods                bool
	ns, sel, port, path *eval.Template
	prom                *eval.Template
	defaultNS           string
}

func (s *MetricsSourceSpec) build(b *engine.Builder, key string) *boundSource {
	switch {
	case s.Pods == nil && !s.Prometheus.IsSet():
		b.Errorf(b.Here(), "%s needs a source: pods (scraped through the API server) or prometheus (a URL)", key)
		return nil
	case s.Pods != nil && s.Prometheus.IsSet():
		b.Errorf(s.Prometheus.Pos, "give either pods or prometheus, not both")
		return nil
	}
	if s.Prometheus.IsSet() {
		return &boundSource{prom: b.Template(s.Prometheus, b.Scope())}
	}
	p := s.Pods
	if p.LabelSelector.IsSet() && !eval.HasTemplate(p.LabelSelector.Value) {
		if _, err := labels.Parse(p.LabelSelector.Value); err != nil {
			b.Errorf(p.LabelSelector.Pos, "invalid label selector %q: %v", p.LabelSelector.Value, err)
		}
	}
	return &boundSource{pods: true, ns: b.Template(p.Namespace, b.Scope()), sel: b.Template(p.LabelSelector, b.Scope()),
		port: b.Template(p.Port, b.Scope()), path: b.Template(p.Path, b.Scope()), defaultNS: b.Defaults.Namespace}
}

// open makes the source with the run's values.
func (s *boundSource) open(env *engine.Env) (metrics.Source, error) {
	vals := env.Values()
	if !s.pods {
		url, err := str(s.prom, vals)
		if err != nil {
			return nil, fmt.Errorf("prometheus: %w", err)
		}
		return metrics.NewPromSource(url)
	}
	c, ok := env.Cluster.(metrics.Cluster)
	if !ok {
		return nil, errors.New("this cluster client cannot reach pods through the API server's pod proxy")
	}
	var t metrics.PodTarget
	for _, f := range []struct {
		dst  *string
		tmpl *eval.Template
		key  string
	}{{&t.Namespace, s.ns, "namespace"}, {&t.LabelSelector, s.sel, "labelSelector"}, {&t.Port, s.port, "port"}, {&t.Path, s.path, "path"}} {
		v, err := str(f.tmpl, vals)
		if err != nil {
			return nil, fmt.Errorf("pods.%s: %w", f.key, err)
		}
		*f.dst = v
	}
	if t.Namespace == "" {
		t.Namespace = s.defaultNS
	}
	return metrics.NewPodSource(c, t), nil
}

// boundQuery is a named PromQL query, compiled at load time unless it
// holds ${{ }}.
type boundQuery struct {
	name  string
	query *metrics.Query
	tmpl  *eval.Template
}

// buildQueries checks the names and compiles each query; with a pods
// source, each must be one the runner evaluates itself.
func buildQueries(b *engine.Builder, specs map[string]engine.Text, src *boundSource) []boundQuery {
	var out []boundQuery
	for _, name := range sortedNames(specs) {
		t := specs[name]
		if !varName(name) {
			b.Errorf(t.Pos, "query name %q is not a valid name (letters, digits, _)", name)
			continue
		}
		if b.Scope().Has(name) {
			b.Errorf(t.Pos, "query name %q hides a variable or output of the same name", name)
			continue
		}
		bq := boundQuery{name: name}
		if eval.HasTemplate(t.Value) {
			bq.tmpl = b.Template(t, b.Scope())
		} else {
			q, err := metrics.Compile(t.Value)
			switch {
			case err != nil:
				b.Errorf(t.Pos, "query %s: %v", name, err)
				continue
			case src != nil && src.pods && q.Local() != nil:
				b.Errorf(t.Pos, "query %s: %v", name, q.Local())
				continue
			}
			bq.query = q
		}
		out = append(out, bq)
	}
	return out
}

// resolveQueries renders and compiles the queries that hold ${{ }}.
func resolveQueries(qs []boundQuery, src *boundSource, vals eval.Values) ([]metrics.Named, error) {
	out := make([]metrics.Named, 0, len(qs))
	for _, bq := range qs {
		q := bq.query
		if q == nil {
			text, err := bq.tmpl.String(vals)
			if err != nil {
				return nil, fmt.Errorf("query %s: %w", bq.name, err)
			}
			if q, err = metrics.Compile(text); err != nil {
				return nil, fmt.Errorf("query %s: %s: %w", bq.name, text, err)
			}
			if src.pods && q.Local() != nil {
				return nil, fmt.Errorf("query %s: %w", bq.name, q.Local())
			}
		}
		out = append(out, metrics.Named{Name: bq.name, Query: q})
	}
	return out, nil
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// seriesLabel is a series' name in summaries and charts: its labels
// without those every series of the query shares.
func seriesLabel(l map[string]string, shared map[string]string) string {
	var parts []string
	for _, k := range sortedNames(l) {
		if k == "__name__" {
			continue
		}
		if v, ok := shared[k]; ok && v == l[k] {
			continue
		}
		parts = append(parts, k+"="+l[k])
	}
	if len(parts) == 0 {
		return "value"
	}
	return strings.Join(parts, ", ")
}

// sharedLabels are the label pairs every series has in common.
func sharedLabels(series []metrics.Series) map[string]string {
	if len(series) < 2 {
		return map[string]string{}
	}
	shared := map[string]string{}
	for k, v := range series[0].Labels {
		shared[k] = v
	}
	for _, s := range series[1:] {
		for k, v := range shared {
			if s.Labels[k] != v {
				delete(shared, k)
			}
		}
	}
	return shared
}
