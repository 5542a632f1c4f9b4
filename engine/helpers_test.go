package engine_test

import (
	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/diag"
)

// spanOf returns a span for src as a plain scalar on line 1, column 1.
func spanOf(src string) diag.Span {
	return diag.SpanOf(diag.NewSource("t", []byte(src)), &yaml.Node{Kind: yaml.ScalarNode, Value: src, Line: 1, Column: 1})
}
