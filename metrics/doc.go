// Package metrics reads Prometheus metrics for plans: it scrapes the text
// format from pods through the API server's pod proxy (so it needs no
// Prometheus in the cluster), or queries a Prometheus-compatible server by
// URL, evaluates a documented subset of PromQL over what it read, and
// samples queries at an interval while steps run (Recorder), keeping
// min, max, last and the points of every series.
//
// The text format is parsed with github.com/prometheus/common/expfmt and
// queries with Prometheus's own PromQL parser; this package writes no
// parser. A query that matches no series is absent, never zero.
//
// It must not know step kinds, the engine or the reports: steps/ binds its
// results to plans, and it holds no global state (clients are passed in).
package metrics
