package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

// cellsLive shows, on a terminal under --parallel, one line per running
// cell, redrawn in place as a block at the bottom of the screen:
//
//	▶ volume-attach[replicas=25]  timeProbe attach › waitFor attached  12.3s  1/1 satisfied
//	▶ node-drain                  waitFor nodes Ready                   3.1s  2/3 satisfied
//
// A step that fails gets a permanent line above the block; log lines and a
// cell's summary (through above) are written above it too, so that nothing
// garbles the block. Every cell reports through its own observer (cell);
// mu guards everything.
type cellsLive struct {
	mu     sync.Mutex
	w      io.Writer
	now    func() time.Time
	width  int
	cells  []*liveCell // running, in the order they started
	lines  int         // lines of the block on screen
	last   time.Time   // of the last redraw
	ticker periodic
}

type liveCell struct {
	id      string
	running []*liveStep // a stack, as in liveProgress
}

func newCellsLive(w io.Writer, now func() time.Time, width int) *cellsLive {
	if width <= 0 {
		width = 80
	}
	return &cellsLive{w: w, now: now, width: width}
}

// Start redraws every redrawEvery; Stop ends that and clears the block.
func (l *cellsLive) Start() { l.ticker.start(redrawEvery, l.tick) }

// Stop stops the redraws and clears the block.
func (l *cellsLive) Stop() {
	l.ticker.halt()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.erase()
}

func (l *cellsLive) tick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.redraw(false)
}

// cell adds a running cell and returns the observer of its steps; done
// removes it.
func (l *cellsLive) cell(id string) engine.Observer {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := &liveCell{id: id}
	l.cells = append(l.cells, c)
	l.redraw(true)
	return cellObserver{l: l, c: c}
}

func (l *cellsLive) done(o engine.Observer) {
	co, ok := o.(cellObserver)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, c := range l.cells {
		if c == co.c {
			l.cells = append(l.cells[:i:i], l.cells[i+1:]...)
			break
		}
	}
	l.redraw(true)
}

// above runs print with the block cleared, then draws it again.
func (l *cellsLive) above(print func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.erase()
	print()
	l.redraw(true)
}

// logWriter returns a writer for log lines that keeps them above the block.
func (l *cellsLive) logWriter() io.Writer { return cellsLogWriter{l} }

type cellsLogWriter struct{ l *cellsLive }

func (w cellsLogWriter) Write(p []byte) (n int, err error) {
	w.l.above(func() { n, err = w.l.w.Write(p) })
	return n, err
}

func (l *cellsLive) redraw(force bool) {
	now := l.now()
	if !force && now.Sub(l.last) < redrawEvery {
		return
	}
	l.erase()
	var lines []string
	for _, c := range l.cells {
		lines = append(lines, l.fit(cellLine(c, now)))
	}
	if len(lines) == 0 {
		return
	}
	l.last = now
	fmt.Fprint(l.w, strings.Join(lines, "\n"))
	l.lines = len(lines)
}

// erase clears the block: the cursor is at the end of its last line.
func (l *cellsLive) erase() {
	if l.lines == 0 {
		return
	}
	fmt.Fprint(l.w, clearLine+strings.Repeat("\x1b[1A\x1b[2K", l.lines-1))
	l.lines = 0
}

func (l *cellsLive) fit(s string) string {
	if r := []rune(s); len(r) > l.width-1 {
		return string(r[:l.width-2]) + "…"
	}
	return s
}

// cellLine is "▶ cell  step › nested  12.3s  242/250 satisfied", or
// "▶ cell  starting" before its first step.
func cellLine(c *liveCell, now time.Time) string {
	if len(c.running) == 0 {
		return "▶ " + c.id + "  …"
	}
	names := make([]string, len(c.running))
	for i, r := range c.running {
		names[i] = r.s.Name
	}
	r := c.running[len(c.running)-1]
	line := "▶ " + c.id + "  " + strings.Join(names, " › ") + "  " + elapsed(now.Sub(r.start))
	if r.has {
		line += "  " + progressText(r.p)
	}
	return line
}

// cellObserver is one cell's engine.Observer.
type cellObserver struct {
	l *cellsLive
	c *liveCell
}

func (o cellObserver) StepStarted(s *result.Step) {
	o.l.mu.Lock()
	defer o.l.mu.Unlock()
	o.c.running = append(o.c.running, &liveStep{s: s, start: o.l.now()})
	o.l.redraw(true)
}

func (o cellObserver) StepProgress(s *result.Step, p result.Progress) {
	o.l.mu.Lock()
	defer o.l.mu.Unlock()
	for _, r := range o.c.running {
		if r.s == s {
			r.p, r.has = p, true
		}
	}
	o.l.redraw(false)
}

func (o cellObserver) StepFinished(s *result.Step) {
	o.l.mu.Lock()
	defer o.l.mu.Unlock()
	var r *liveStep
	for i, x := range o.c.running {
		if x.s == s {
			r = x
			o.c.running = append(o.c.running[:i:i], o.c.running[i+1:]...)
			break
		}
	}
	if r == nil {
		r = &liveStep{s: s, start: s.Start}
	}
	if s.Outcome != result.Passed && s.Outcome != result.Skipped {
		o.l.erase()
		fmt.Fprintln(o.l.w, o.l.fit(o.c.id+": "+finalLine(r)))
	}
	o.l.redraw(true)
}
