package diag

import (
	"errors"

	goyaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// SyntaxAt finds where a YAML document stops being valid: the line and
// column of the token where a second parser (goccy/go-yaml) gave up, and
// its message. yaml.v3, which decodes plans, names only the line where the
// broken block starts. ok is false when the second parser finds no error
// or no position; callers then keep yaml.v3's line.
func SyntaxAt(data []byte) (line, col int, msg string, ok bool) {
	_, err := parser.ParseBytes(data, 0)
	var se *goyaml.SyntaxError
	if err == nil || !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil {
		return 0, 0, "", false
	}
	return se.Token.Position.Line, se.Token.Position.Column, se.Message, true
}
