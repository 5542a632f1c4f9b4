// Package diag describes where something is in a plan and renders errors
// about it as FILE:LINE:COL: message, followed by the source line and a caret.
//
// It knows nothing about plans or YAML; it only maps offsets inside embedded
// strings (expressions, block scalars, manifests) back to the file they came
// from, so that every error can point at the exact character.
package diag

import (
	"cmp"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Pos is a 1-based line and column in a file.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"column,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// IsZero reports whether p names no place at all.
func (p Pos) IsZero() bool { return p.File == "" && p.Line == 0 }

// Compare orders positions by line, then column (-1, 0, 1), for positions
// in one file.
func (p Pos) Compare(q Pos) int {
	switch {
	case p.Line != q.Line:
		return cmp.Compare(p.Line, q.Line)
	default:
		return cmp.Compare(p.Col, q.Col)
	}
}

// Error is a problem at one place of a source file.
type Error struct {
	Pos Pos
	Msg string
	// Source is the text of the line Pos points into; it is rendered with a
	// caret under Pos.Col. Empty when unknown.
	Source string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// Render returns the error followed by its source line and a caret.
func (e *Error) Render() string {
	var b strings.Builder
	b.WriteString(e.Error())
	if e.Source != "" && e.Pos.Col > 0 {
		line, col := clipLine([]rune(strings.ReplaceAll(e.Source, "\t", " ")), e.Pos.Col-1)
		fmt.Fprintf(&b, "\n  %s\n  %s^", line, strings.Repeat(" ", col))
	}
	return b.String()
}

// MaxLine is the most runes of a source line an error shows.
const MaxLine = 120

// clipLine returns at most MaxLine runes of line around col (0-based) and
// the caret's column in what it returns.
func clipLine(line []rune, col int) (string, int) {
	col = min(col, len(line))
	if len(line) <= MaxLine {
		return string(line), col
	}
	from := max(0, min(col-MaxLine/2, len(line)-MaxLine))
	out := string(line[from : from+MaxLine])
	if from > 0 {
		out = "..." + out
		col += 3
	}
	if from+MaxLine < len(line) {
		out += "..."
	}
	return out, col - from
}

// Source is the text of one file, split in lines, that errors point into.
type Source struct {
	File  string
	lines []string
}

// NewSource splits text into lines for later lookup.
func NewSource(file string, text []byte) *Source {
	return &Source{File: file, lines: strings.Split(strings.ReplaceAll(string(text), "\r\n", "\n"), "\n")}
}

// Line returns the text of 1-based line n, or "" when out of range.
func (s *Source) Line(n int) string {
	if s == nil || n < 1 || n > len(s.lines) {
		return ""
	}
	return s.lines[n-1]
}

// Errorf builds an Error at line:col of s.
func (s *Source) Errorf(line, col int, format string, args ...any) *Error {
	return &Error{Pos: Pos{File: s.File, Line: line, Col: col}, Msg: fmt.Sprintf(format, args...), Source: s.Line(line)}
}

// MaxErrors is the most errors a List keeps; past it, it only counts them.
const MaxErrors = 100

// Omitted stands for the errors a List counted past MaxErrors.
type Omitted struct{ N int }

func (o *Omitted) Error() string {
	return fmt.Sprintf("%d more problems not shown (the first %d are)", o.N, MaxErrors)
}

// Count is the number of problems in err, those omitted included.
func Count(err error) int {
	n := 0
	for _, e := range Flatten(err) {
		if o, ok := e.(*Omitted); ok {
			n += o.N
		} else {
			n++
		}
	}
	return n
}

// List collects errors; its zero value is ready to use.
type List struct {
	errs    *multierror.Error
	dropped int
}

// Add appends err (which may itself be a List or multierror) unless it is nil.
func (l *List) Add(err error) {
	if err == nil {
		return
	}
	for _, e := range Flatten(err) {
		if l.Len()-l.dropped >= MaxErrors {
			l.dropped++
			continue
		}
		l.errs = multierror.Append(l.errs, e)
	}
}

// Len is the number of errors collected, those past MaxErrors included.
func (l *List) Len() int {
	if l.errs == nil {
		return l.dropped
	}
	return len(l.errs.Errors) + l.dropped
}

// Err returns nil when no error was added, else all of them, sorted by
// position; errors without a position come last, in the order added.
func (l *List) Err() error {
	if l.Len() == 0 {
		return nil
	}
	errs := Flatten(l.errs)
	sort.SliceStable(errs, func(i, j int) bool { return less(errs[i], errs[j]) })
	if l.dropped > 0 {
		errs = append(errs, &Omitted{N: l.dropped})
	}
	return &multierror.Error{Errors: errs, ErrorFormat: formatList}
}

func less(a, b error) bool {
	var ea, eb *Error
	okA, okB := errors.As(a, &ea), errors.As(b, &eb)
	if !okA || !okB {
		// Treating an error without a position as equal to every other
		// would not be an ordering, and sort would leave the rest unsorted.
		return okA && !okB
	}
	if ea.Pos.File != eb.Pos.File {
		return ea.Pos.File < eb.Pos.File
	}
	if ea.Pos.Line != eb.Pos.Line {
		return ea.Pos.Line < eb.Pos.Line
	}
	return ea.Pos.Col < eb.Pos.Col
}

func formatList(errs []error) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Flatten unpacks nested multierrors into a flat slice.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	var me *multierror.Error
	if errors.As(err, &me) {
		var out []error
		for _, e := range me.Errors {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// RenderAll renders every error in err, each with its source line and caret.
func RenderAll(err error) string {
	var b strings.Builder
	for _, e := range Flatten(err) {
		var de *Error
		if errors.As(e, &de) {
			b.WriteString(de.Render())
		} else {
			b.WriteString(e.Error())
		}
		b.WriteString("\n")
	}
	return b.String()
}
