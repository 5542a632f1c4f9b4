package diag

import (
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Locator maps a 1-based line and column of some text to a position in a file.
// A whole file maps to itself; a string embedded in a file (a block scalar
// holding a manifest, say) maps through the span it was taken from.
type Locator interface {
	Locate(line, col int) Pos
	// Source is the file that positions point into.
	Source() *Source
}

// Locate implements Locator for a whole file.
func (s *Source) Locate(line, col int) Pos { return Pos{File: s.File, Line: line, Col: col} }

// Source implements Locator.
func (s *Source) Source() *Source { return s }

// Span is a string taken from a YAML scalar, with the means to map a rune
// offset in it back to the file it came from.
type Span struct {
	Text string
	src  *Source
	segs []seg
}

type seg struct {
	off       int // rune offset in Text where this segment starts
	line, col int // position in src of that rune
}

// SpanOf returns the value of scalar node n, located through loc (whose
// coordinates n's Line and Column are in).
func SpanOf(loc Locator, n *yaml.Node) Span {
	s := Span{Text: n.Value, src: loc.Source()}
	add := func(off, line, col int) {
		p := loc.Locate(line, col)
		s.segs = append(s.segs, seg{off: off, line: p.Line, col: p.Col})
	}
	switch n.Style {
	case yaml.LiteralStyle:
		s.blockSegs(loc, n, add)
	case yaml.FoldedStyle:
		s.foldedSegs(loc, n, add)
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		add(0, n.Line, n.Column+1)
	default:
		add(0, n.Line, n.Column)
	}
	return s
}

// blockSegs maps each line of a block scalar's value to the file line it
// stands on: the value starts on the line after the indicator and every line
// is indented by the same amount.
func (s *Span) blockSegs(loc Locator, n *yaml.Node, add func(off, line, col int)) {
	lines := strings.Split(n.Value, "\n")
	parentLine := func(l int) string {
		// Ask the parent for the text of line l through a position lookup:
		// only a file knows its lines, so map to the file first.
		p := loc.Locate(l, 1)
		return loc.Source().Line(p.Line)
	}
	indent := -1
	off := 0
	line := n.Line + 1
	for i := range lines {
		text := parentLine(line)
		trimmed := strings.TrimLeft(text, " ")
		if indent < 0 && trimmed != "" {
			indent = len(text) - len(trimmed)
			// The parent may itself be indented inside the file: measure
			// relative to where the parent's line starts.
			if p := loc.Locate(line, 1); p.Col > 1 {
				indent -= p.Col - 1
			}
		}
		if indent >= 0 {
			add(off, line, indent+1)
		}
		off += utf8.RuneCountInString(lines[i]) + 1
		line++
	}
	if len(s.segs) == 0 {
		add(0, n.Line, n.Column)
	}
}

// foldedSegs maps the lines of a folded block scalar (>) to the file lines
// they stand on. Folding joins lines with a space and turns a run of empty
// lines into line breaks, so the value's lines are not the file's: each
// line of the file is found in the value instead, after the separators
// folding left before it.
func (s *Span) foldedSegs(loc Locator, n *yaml.Node, add func(off, line, col int)) {
	value := []rune(n.Value)
	src := loc.Source()
	indent, off := -1, 0
	// The scalar cannot have more lines than the file: a bound for when loc
	// maps lines past its end onto one blank line.
	for line := n.Line + 1; off < len(value) && line-n.Line <= len(src.lines); line++ {
		p := loc.Locate(line, 1)
		if p.Line < 1 || p.Line > len(src.lines) {
			break
		}
		text := []rune(src.Line(p.Line))
		start := min(p.Col-1, len(text)) // where the parent's line starts
		trimmed := strings.TrimLeft(string(text[start:]), " ")
		if trimmed == "" {
			continue // an empty line: folding made it a line break or nothing
		}
		if indent < 0 {
			indent = len(text) - start - utf8.RuneCountInString(trimmed)
		}
		content := []rune(string(text[min(start+indent, len(text)):]))
		for off < len(value) && !hasPrefix(value[off:], content) && (value[off] == ' ' || value[off] == '\n') {
			off++
		}
		if !hasPrefix(value[off:], content) {
			break // past the end of the scalar
		}
		add(off, line, indent+1)
		off += len(content)
	}
	if len(s.segs) == 0 {
		add(0, n.Line, n.Column)
	}
}

func hasPrefix(s, prefix []rune) bool {
	return len(s) >= len(prefix) && string(s[:len(prefix)]) == string(prefix)
}

// Pos returns the file position of the rune at offset off of s.Text.
func (s Span) Pos(off int) Pos {
	if len(s.segs) == 0 {
		return Pos{File: s.srcFile()}
	}
	best := s.segs[0]
	for _, g := range s.segs[1:] {
		if g.off > off {
			break
		}
		best = g
	}
	return Pos{File: s.srcFile(), Line: best.line, Col: best.col + off - best.off}
}

func (s Span) srcFile() string {
	if s.src == nil {
		return ""
	}
	return s.src.File
}

// Errorf builds an Error at rune offset off of s.
func (s Span) Errorf(off int, format string, args ...any) *Error {
	p := s.Pos(off)
	return s.src.Errorf(p.Line, p.Col, format, args...)
}

// Locate implements Locator: line and col are 1-based in s.Text.
func (s Span) Locate(line, col int) Pos {
	off := 0
	for i, l := range strings.Split(s.Text, "\n") {
		if i == line-1 {
			return s.Pos(off + col - 1)
		}
		off += utf8.RuneCountInString(l) + 1
	}
	return s.Pos(off)
}

// Source implements Locator.
func (s Span) Source() *Source { return s.src }

// NodeError builds an Error at the start of node n located through loc.
func NodeError(loc Locator, n *yaml.Node, format string, args ...any) *Error {
	p := loc.Locate(n.Line, n.Column)
	return loc.Source().Errorf(p.Line, p.Col, format, args...)
}
