package diag

import (
	"errors"
	"strings"
	"testing"
)

func TestRenderClipsLongLines(t *testing.T) {
	long := strings.Repeat("a", 500) + "X" + strings.Repeat("b", 500)
	for _, tc := range []struct {
		name, line string
		col        int
		want       string
	}{
		{"short line unchanged", "key: value", 6, "  key: value\n       ^"},
		{"caret in the middle of a long line", long, 501,
			"  ..." + strings.Repeat("a", 60) + "X" + strings.Repeat("b", 59) + "...\n  " + strings.Repeat(" ", 63) + "^"},
		{"caret at the start", long, 1, "  " + strings.Repeat("a", MaxLine) + "...\n  ^"},
		{"caret at the end", long, len(long), "  ..." + strings.Repeat("b", MaxLine) + "\n  " + strings.Repeat(" ", 3+MaxLine-1) + "^"},
	} {
		e := &Error{Pos: Pos{File: "f", Line: 1, Col: tc.col}, Msg: "m", Source: tc.line}
		_, got, _ := strings.Cut(e.Render(), "\n")
		if got != tc.want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

func TestListKeepsTheFirstErrors(t *testing.T) {
	var l List
	for range MaxErrors + 250 {
		l.Add(errors.New("x"))
	}
	if l.Len() != MaxErrors+250 {
		t.Errorf("Len = %d, want every error counted", l.Len())
	}
	errs := Flatten(l.Err())
	if len(errs) != MaxErrors+1 || errs[MaxErrors].Error() != "250 more problems not shown (the first 100 are)" {
		t.Errorf("got %d errors, last %v", len(errs), errs[len(errs)-1])
	}
	if Count(l.Err()) != MaxErrors+250 {
		t.Errorf("Count = %d", Count(l.Err()))
	}
}
