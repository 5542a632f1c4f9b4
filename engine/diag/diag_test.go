package diag_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"

	"github.com/scenario-runner/runner/engine/diag"
)

func TestPosString(t *testing.T) {
	for _, tc := range []struct {
		pos  diag.Pos
		want string
	}{
		{diag.Pos{File: "plan.yaml", Line: 3, Col: 7}, "plan.yaml:3:7"},
		{diag.Pos{File: "plan.yaml"}, "plan.yaml"},
		{diag.Pos{File: "plan.yaml", Col: 4}, "plan.yaml"}, // no line: the column means nothing
		{diag.Pos{Line: 2, Col: 1}, ":2:1"},
		{diag.Pos{}, ""},
	} {
		if got := tc.pos.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.pos, got, tc.want)
		}
	}
}

func TestPosIsZero(t *testing.T) {
	for _, tc := range []struct {
		pos  diag.Pos
		want bool
	}{
		{diag.Pos{}, true},
		{diag.Pos{Col: 5}, true}, // a column without a line is no place
		{diag.Pos{File: "a.yaml"}, false},
		{diag.Pos{Line: 1}, false},
		{diag.Pos{File: "a.yaml", Line: 1, Col: 1}, false},
	} {
		if got := tc.pos.IsZero(); got != tc.want {
			t.Errorf("%#v.IsZero() = %v, want %v", tc.pos, got, tc.want)
		}
	}
}

func TestPosCompare(t *testing.T) {
	for _, tc := range []struct {
		p, q diag.Pos
		want int
	}{
		{diag.Pos{Line: 1, Col: 1}, diag.Pos{Line: 1, Col: 1}, 0},
		{diag.Pos{Line: 1, Col: 9}, diag.Pos{Line: 2, Col: 1}, -1},
		{diag.Pos{Line: 3, Col: 1}, diag.Pos{Line: 2, Col: 9}, 1},
		{diag.Pos{Line: 2, Col: 3}, diag.Pos{Line: 2, Col: 4}, -1},
		{diag.Pos{Line: 2, Col: 5}, diag.Pos{Line: 2, Col: 4}, 1},
		// The file is not compared: positions are meant to be in one file.
		{diag.Pos{File: "b", Line: 1, Col: 1}, diag.Pos{File: "a", Line: 1, Col: 1}, 0},
	} {
		if got := tc.p.Compare(tc.q); got != tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.p, tc.q, got, tc.want)
		}
	}
}

func TestErrorRender(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  diag.Error
		want string
	}{
		{
			name: "caret under the column",
			err:  diag.Error{Pos: diag.Pos{File: "p.yaml", Line: 4, Col: 12}, Msg: "unknown name nope", Source: "  expr: n + nope"},
			want: "p.yaml:4:12: unknown name nope\n    expr: n + nope\n             ^",
		},
		{
			name: "first column",
			err:  diag.Error{Pos: diag.Pos{File: "p.yaml", Line: 1, Col: 1}, Msg: "bad", Source: "x: 1"},
			want: "p.yaml:1:1: bad\n  x: 1\n  ^",
		},
		{
			name: "tabs become one space each so the caret stays aligned",
			err:  diag.Error{Pos: diag.Pos{File: "p.yaml", Line: 2, Col: 3}, Msg: "tab", Source: "\t\tx"},
			want: "p.yaml:2:3: tab\n    x\n    ^",
		},
		{
			name: "a column past the end puts the caret just after the line",
			err:  diag.Error{Pos: diag.Pos{File: "p.yaml", Line: 2, Col: 40}, Msg: "eof", Source: "ab"},
			want: "p.yaml:2:40: eof\n  ab\n    ^",
		},
		{
			name: "columns count runes, not bytes",
			err:  diag.Error{Pos: diag.Pos{File: "p.yaml", Line: 1, Col: 7}, Msg: "here", Source: "name: é!"},
			want: "p.yaml:1:7: here\n  name: é!\n        ^",
		},
		{
			name: "no source line, no caret",
			err:  diag.Error{Pos: diag.Pos{File: "p.yaml", Line: 9, Col: 2}, Msg: "gone"},
			want: "p.yaml:9:2: gone",
		},
		{
			name: "no column, no caret",
			err:  diag.Error{Pos: diag.Pos{File: "p.yaml", Line: 9}, Msg: "line only", Source: "a: b"},
			want: "p.yaml:9:0: line only",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Render(); got != tc.want {
				t.Errorf("Render() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestSourceLineAndErrorf(t *testing.T) {
	src := diag.NewSource("w.yaml", []byte("one\r\ntwo\nthree"))
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, ""}, {1, "one"}, {2, "two"}, {3, "three"}, {4, ""}, {-1, ""},
	} {
		if got := src.Line(tc.n); got != tc.want {
			t.Errorf("Line(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	var nilSrc *diag.Source
	if got := nilSrc.Line(1); got != "" {
		t.Errorf("nil Source Line(1) = %q", got)
	}
	e := src.Errorf(2, 2, "bad %s", "w")
	if e.Error() != "w.yaml:2:2: bad w" || e.Source != "two" {
		t.Errorf("Errorf = %q with source %q", e.Error(), e.Source)
	}
}

func TestListSortsAndCollects(t *testing.T) {
	src := diag.NewSource("b.yaml", []byte("l1\nl2\nl3\n"))
	var l diag.List
	if l.Err() != nil || l.Len() != 0 {
		t.Fatalf("zero List: Err() = %v, Len() = %d", l.Err(), l.Len())
	}
	l.Add(nil)
	if l.Len() != 0 {
		t.Fatalf("Add(nil) counted: Len() = %d", l.Len())
	}
	l.Add(src.Errorf(3, 1, "third"))
	l.Add(src.Errorf(1, 5, "first-b"))
	l.Add(src.Errorf(1, 2, "first-a"))
	l.Add(&diag.Error{Pos: diag.Pos{File: "a.yaml", Line: 9, Col: 9}, Msg: "other file"})
	// A nested list (another List's Err) is flattened into this one.
	var inner diag.List
	inner.Add(src.Errorf(2, 1, "second"))
	inner.Add(src.Errorf(2, 3, "second-b"))
	l.Add(inner.Err())
	if l.Len() != 6 {
		t.Fatalf("Len() = %d, want 6", l.Len())
	}
	err := l.Err()
	want := strings.Join([]string{
		"a.yaml:9:9: other file",
		"b.yaml:1:2: first-a",
		"b.yaml:1:5: first-b",
		"b.yaml:2:1: second",
		"b.yaml:2:3: second-b",
		"b.yaml:3:1: third",
	}, "\n")
	if err.Error() != want {
		t.Errorf("Err() =\n%s\nwant\n%s", err, want)
	}
	if got := len(diag.Flatten(err)); got != 6 {
		t.Errorf("Flatten(Err()) has %d errors, want 6", got)
	}
	var de *diag.Error
	if !errors.As(err, &de) || de.Msg != "other file" {
		t.Errorf("errors.As(Err(), *Error) = %v", de)
	}
}

// Errors without a position must not stop the others from being sorted:
// they go last, in the order they were added.
func TestListSortsAroundErrorsWithoutPosition(t *testing.T) {
	src := diag.NewSource("s.yaml", []byte("a\nb\nc\n"))
	var l diag.List
	l.Add(src.Errorf(3, 1, "three"))
	l.Add(errors.New("plain one"))
	l.Add(src.Errorf(2, 1, "two"))
	l.Add(errors.New("plain two"))
	l.Add(src.Errorf(1, 1, "one"))
	want := "s.yaml:1:1: one\ns.yaml:2:1: two\ns.yaml:3:1: three\nplain one\nplain two"
	if got := l.Err().Error(); got != want {
		t.Errorf("Err() =\n%s\nwant\n%s", got, want)
	}
}

func TestFlatten(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	nested := &multierror.Error{Errors: []error{a, &multierror.Error{Errors: []error{b, &multierror.Error{Errors: []error{c}}}}}}
	for _, tc := range []struct {
		name string
		err  error
		want []error
	}{
		{"nil", nil, nil},
		{"plain", a, []error{a}},
		{"nested", nested, []error{a, b, c}},
		{"wrapped", fmt.Errorf("ctx: %w", &multierror.Error{Errors: []error{a, b}}), []error{a, b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := diag.Flatten(tc.err)
			if len(got) != len(tc.want) {
				t.Fatalf("Flatten = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("Flatten[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestRenderAll(t *testing.T) {
	src := diag.NewSource("r.yaml", []byte("a: 1\nbb: 2\n"))
	var l diag.List
	l.Add(src.Errorf(2, 2, "second"))
	l.Add(errors.New("no position"))
	l.Add(src.Errorf(1, 4, "first"))
	got := diag.RenderAll(l.Err())
	want := "r.yaml:1:4: first\n  a: 1\n     ^\n" +
		"r.yaml:2:2: second\n  bb: 2\n   ^\n" +
		"no position\n"
	if got != want {
		t.Errorf("RenderAll() =\n%s\nwant\n%s", got, want)
	}
	if diag.RenderAll(nil) != "" {
		t.Errorf("RenderAll(nil) = %q", diag.RenderAll(nil))
	}
}
