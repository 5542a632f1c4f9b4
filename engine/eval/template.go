package eval

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/scenario-runner/runner/engine/diag"
)

// Template is a string with ${{ expr }} parts. A template that is exactly one
// ${{ expr }} keeps the expression's type (an int stays an int); any other is
// rendered to a string.
type Template struct {
	Source string
	parts  []part
}

type part struct {
	lit  string
	prog *Program // nil for a literal part
}

const (
	open  = "${{"
	close = "}}"
)

// HasTemplate reports whether s contains a ${{ }} expression.
func HasTemplate(s string) bool { return strings.Contains(s, open) }

// CompileTemplate compiles every ${{ }} of span.Text in scope.
func CompileTemplate(span diag.Span, scope *Scope) (*Template, error) {
	s := span.Text
	t := &Template{Source: s}
	var errs diag.List
	for rest, done := s, 0; ; {
		i := strings.Index(rest, open)
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, part{lit: rest})
			}
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: rest[:i]})
		}
		startByte := done + i + len(open)
		j := strings.Index(s[startByte:], close)
		if j < 0 {
			errs.Add(span.Errorf(utf8.RuneCountInString(s[:done+i]), "unterminated ${{: expected }}"))
			break
		}
		src := s[startByte : startByte+j]
		base := utf8.RuneCountInString(s[:startByte])
		if strings.TrimSpace(src) == "" {
			errs.Add(span.Errorf(base, "empty expression in ${{ }}"))
		} else if prog, err := Compile(src, span, base, scope, Any); err != nil {
			errs.Add(err)
		} else {
			t.parts = append(t.parts, part{prog: prog})
		}
		done = startByte + j + len(close)
		rest = s[done:]
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// Whole reports whether t is exactly one expression.
func (t *Template) Whole() bool { return len(t.parts) == 1 && t.parts[0].prog != nil }

// Static reports whether t has no expression at all.
func (t *Template) Static() bool {
	for _, p := range t.parts {
		if p.prog != nil {
			return false
		}
	}
	return true
}

// Eval renders t with vals: the value itself for a whole template, else a string.
// A string it builds is charged to the meter of vals (see WithMeter).
func (t *Template) Eval(vals Values) (any, error) {
	if t.Whole() {
		v, err := t.parts[0].prog.Run(vals)
		if s, ok := v.(string); ok && err == nil {
			err = vals.meter().Charge(int64(len(s)))
		}
		return v, err
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := p.prog.Run(vals)
		if err != nil {
			return nil, err
		}
		fmt.Fprint(&b, v)
	}
	if err := vals.meter().Charge(int64(b.Len())); err != nil {
		return nil, err
	}
	return b.String(), nil
}

// String renders t and formats the result as a string.
func (t *Template) String(vals Values) (string, error) {
	v, err := t.Eval(vals)
	if err != nil {
		return "", err
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	return fmt.Sprint(v), nil
}
