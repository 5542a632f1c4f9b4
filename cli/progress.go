package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/scenario-runner/runner/result"
)

// How the live progress line behaves.
const (
	// redrawEvery bounds redraws of the live line (five a second).
	redrawEvery = 200 * time.Millisecond
	// heartbeatEvery is how often the plain log says a step is still
	// running when its counts have not changed.
	heartbeatEvery = 30 * time.Second
	clearLine      = "\r\x1b[2K"
)

// liveProgress shows, on a terminal, one line that is redrawn in place: the
// running step (nested ones as "probe › step"), its elapsed time and its
// progress ("242/250 satisfied"). When a step ends the line gives way to a
// final line for it; nested steps get one only when they fail, so that a
// repeated timeProbe does not scroll the screen away. Log lines written
// through logWriter clear the live line first and redraw it after.
//
// The engine calls the Observer methods from several goroutines (applies
// run objects in parallel); mu guards everything.
type liveProgress struct {
	mu      sync.Mutex
	w       io.Writer
	now     func() time.Time
	width   int
	running []*liveStep // started, not finished: a stack (nested steps run inside their parent)
	drawn   bool        // the live line is on screen
	last    time.Time   // of the last redraw
	ticker  periodic
}

type liveStep struct {
	s     *result.Step
	start time.Time
	p     result.Progress
	has   bool
}

// newLiveProgress draws on w (a terminal) with the time now; width is the
// terminal's (0: 80 columns).
func newLiveProgress(w io.Writer, now func() time.Time, width int) *liveProgress {
	if width <= 0 {
		width = 80
	}
	return &liveProgress{w: w, now: now, width: width}
}

// terminalWidth is the width of w when it is a terminal, else 0.
func terminalWidth(w io.Writer) int {
	if f, ok := unwrapWriter(w).(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
			return cols
		}
	}
	return 0
}

// Start redraws the line every redrawEvery, so the elapsed time moves even
// when a step reports nothing; Stop ends that and clears the line.
func (l *liveProgress) Start() { l.ticker.start(redrawEvery, l.tick) }

// Stop stops the redraws started by Start and clears the live line.
func (l *liveProgress) Stop() {
	l.ticker.halt()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.erase()
}

func (l *liveProgress) tick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.redraw(false)
}

// StepStarted implements engine.Observer.
func (l *liveProgress) StepStarted(s *result.Step) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running = append(l.running, &liveStep{s: s, start: l.now()})
	l.redraw(true)
}

// StepProgress implements engine.Observer.
func (l *liveProgress) StepProgress(s *result.Step, p result.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.find(s); r != nil {
		r.p, r.has = p, true
	}
	l.redraw(false)
}

// StepFinished implements engine.Observer.
func (l *liveProgress) StepFinished(s *result.Step) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r *liveStep
	depth := 0
	for i, x := range l.running {
		if x.s == s {
			r, depth = x, i
			l.running = append(l.running[:i:i], l.running[i+1:]...)
			break
		}
	}
	if r == nil {
		r = &liveStep{s: s, start: s.Start}
	}
	if depth == 0 || s.Outcome != result.Passed {
		l.erase()
		fmt.Fprintln(l.w, l.fit(strings.Repeat("  ", depth)+finalLine(r)))
	}
	l.redraw(true)
}

func (l *liveProgress) find(s *result.Step) *liveStep {
	for _, r := range l.running {
		if r.s == s {
			return r
		}
	}
	return nil
}

// redraw draws the live line for the innermost running step, at most every
// redrawEvery unless forced.
func (l *liveProgress) redraw(force bool) {
	now := l.now()
	if !force && now.Sub(l.last) < redrawEvery {
		return
	}
	if len(l.running) == 0 {
		l.erase()
		return
	}
	l.last = now
	fmt.Fprint(l.w, clearLine+l.fit(l.liveLine(now)))
	l.drawn = true
}

func (l *liveProgress) erase() {
	if l.drawn {
		fmt.Fprint(l.w, clearLine)
		l.drawn = false
	}
}

// liveLine is "▶ probe › step  12.3s  242/250 satisfied (250 matched)".
func (l *liveProgress) liveLine(now time.Time) string {
	names := make([]string, len(l.running))
	for i, r := range l.running {
		names[i] = r.s.Name
	}
	r := l.running[len(l.running)-1]
	line := "▶ " + strings.Join(names, " › ") + "  " + elapsed(now.Sub(r.start))
	if r.has {
		line += "  " + progressText(r.p)
	}
	return line
}

// finalLine is "✓ step  12.3s  250/250 satisfied" or "✗ step  2s  timed-out:
// <first line of the error>".
func finalLine(r *liveStep) string {
	mark := "✓"
	if r.s.Outcome != result.Passed {
		mark = "✗"
	}
	line := mark + " " + r.s.Name + "  " + result.FormatDuration(r.s.Duration())
	if r.has {
		line += "  " + progressText(r.p)
	}
	if r.s.Outcome != result.Passed {
		first, _, _ := strings.Cut(r.s.Error, "\n")
		line += "  " + string(r.s.Outcome)
		if first != "" {
			line += ": " + first
		}
	}
	return line
}

func progressText(p result.Progress) string {
	unit := p.Unit
	if unit == "" {
		unit = "done"
	}
	s := fmt.Sprintf("%d/%d %s", p.Done, p.Total, unit)
	if p.Matched > 0 && p.Matched != p.Total {
		s += fmt.Sprintf(" (%d matched)", p.Matched)
	}
	return s
}

// elapsed shows a running time with a steady width: 0.4s, 12.3s, 1m05s.
func elapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d/time.Second)%60)
	}
	return fmt.Sprintf("%dh%02dm%02ds", int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60)
}

// fit cuts s to the terminal's width: a live line that wrapped could not be
// cleared in place.
func (l *liveProgress) fit(s string) string {
	if r := []rune(s); len(r) > l.width-1 {
		return string(r[:l.width-2]) + "…"
	}
	return s
}

// logWriter returns a writer for log lines that keeps them apart from the
// live line.
func (l *liveProgress) logWriter() io.Writer { return liveLogWriter{l} }

type liveLogWriter struct{ l *liveProgress }

func (w liveLogWriter) Write(p []byte) (int, error) {
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	l.erase()
	n, err := l.w.Write(p)
	l.redraw(true)
	return n, err
}

// liveLogger sends log's console output through the live line's writer.
func liveLogger(log zerolog.Logger, l *liveProgress) zerolog.Logger {
	return log.Output(consoleWriter(l.logWriter(), false))
}

// logObserver logs step boundaries, progress at a bounded rate (always when
// a step completes its count), and a heartbeat for the innermost running
// step every heartbeatEvery when nothing else was logged about it, so that
// a long wait whose counts do not change still shows it is alive. It is the
// observer off a terminal, and with --log-format json.
type logObserver struct {
	mu      sync.Mutex
	log     zerolog.Logger
	every   time.Duration
	now     func() time.Time
	running []*loggedStep // a stack, like liveProgress's
	ticker  periodic
}

type loggedStep struct {
	s            *result.Step
	start        time.Time
	lastLog      time.Time // any line about the step: for the heartbeat
	lastProgress time.Time // a progress line: for the rate of those
	p            result.Progress
	has          bool
	pending      bool // p changed since the last progress line
}

func newLogObserver(log zerolog.Logger, tty bool) *logObserver {
	every := 10 * time.Second
	if tty {
		every = 2 * time.Second
	}
	return &logObserver{log: log, every: every, now: time.Now}
}

// Start logs heartbeats until Stop.
func (l *logObserver) Start() { l.ticker.start(time.Second, l.heartbeat) }

// Stop stops the heartbeats.
func (l *logObserver) Stop() { l.ticker.halt() }

// periodic calls a function at an interval, from start until halt.
type periodic struct {
	stop, done chan struct{}
}

func (p *periodic) start(every time.Duration, f func()) {
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				f()
			}
		}
	}()
}

// halt stops the calls and waits for the last to end; safe to call twice.
func (p *periodic) halt() {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
}

func (l *logObserver) StepStarted(s *result.Step) {
	l.mu.Lock()
	now := l.now()
	l.running = append(l.running, &loggedStep{s: s, start: now, lastLog: now})
	l.mu.Unlock()
	l.log.Info().Str("step", s.Name).Str("kind", s.Kind).Msg("step started")
}

func (l *logObserver) StepProgress(s *result.Step, p result.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.find(s)
	if r == nil {
		return
	}
	r.p, r.has = p, true
	now := l.now()
	if now.Sub(r.lastProgress) < l.every && p.Done != p.Total {
		r.pending = true // heartbeat logs it once the interval has passed
		return
	}
	r.lastLog, r.lastProgress, r.pending = now, now, false
	l.logProgress(r, "")
}

func (l *logObserver) logProgress(r *loggedStep, note string) {
	ev := l.log.Info().Str("step", r.s.Name)
	if r.has {
		ev = ev.Int("done", r.p.Done).Int("total", r.p.Total)
		if r.p.Matched > 0 {
			ev = ev.Int("matched", r.p.Matched)
		}
	}
	if note != "" {
		ev = ev.Dur("elapsed", l.now().Sub(r.start).Round(time.Second))
	}
	var msg []string
	if r.has {
		msg = append(msg, fmt.Sprintf("%d/%d %s", r.p.Done, r.p.Total, r.p.Unit))
	}
	if note != "" {
		msg = append(msg, note)
	}
	ev.Msg(strings.Join(msg, ", "))
}

// heartbeat logs the counts a step reported within the rate interval of its
// last progress line once the interval has passed (else a count that
// changed once and then stood still went unlogged until the next
// heartbeat), and the innermost running step when nothing was logged about
// it for heartbeatEvery.
func (l *logObserver) heartbeat() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.running) == 0 {
		return
	}
	now := l.now()
	for _, r := range l.running {
		if r.pending && now.Sub(r.lastProgress) >= l.every {
			r.lastLog, r.lastProgress, r.pending = now, now, false
			l.logProgress(r, "")
		}
	}
	r := l.running[len(l.running)-1]
	if now.Sub(r.lastLog) < heartbeatEvery {
		return
	}
	r.lastLog = now
	l.logProgress(r, "still running after "+result.FormatDuration(now.Sub(r.start)))
}

func (l *logObserver) find(s *result.Step) *loggedStep {
	for _, r := range l.running {
		if r.s == s {
			return r
		}
	}
	return nil
}

func (l *logObserver) StepFinished(s *result.Step) {
	l.mu.Lock()
	for i, r := range l.running {
		if r.s == s {
			l.running = append(l.running[:i:i], l.running[i+1:]...)
			break
		}
	}
	l.mu.Unlock()
	if s.Outcome == result.Passed {
		l.log.Info().Str("step", s.Name).Dur("took", s.Duration()).Msg("step passed")
		return
	}
	// The message itself is in the summary on stdout and in the reports:
	// each error is printed once.
	l.log.Error().Str("step", s.Name).Str("outcome", string(s.Outcome)).Dur("took", s.Duration()).Msg("step " + string(s.Outcome))
}
