package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cmd is one run of a tool.
type Cmd struct {
	Path string
	Args []string
	Env  []string // added to this process's environment
	// Timeout is a safety net: at its end the process gets SIGTERM,
	// then SIGKILL 3 s later. Tools are given their own, shorter timeouts.
	Timeout time.Duration
	// Log receives stdout and stderr, each line prefixed with its arrival
	// time in milliseconds since start. Empty: discarded.
	Log string
	// Watch, if set, is a substring of an output line: the arrival time of
	// the first line holding it is Result.SeenAt.
	Watch string
	// Ready, if set, is a substring of an output line that says the tool
	// is ready (e.g. has listed what it waits on): Running.Ready is closed
	// when the first line holding it arrives, at Result.ReadyAt.
	Ready string
}

// String is the command line, for results and logs.
func (c Cmd) String() string {
	return strings.TrimSpace(strings.Join(append(append([]string(nil), c.Env...), append([]string{c.Path}, c.Args...)...), " "))
}

// Result is how a run went. Start is taken just before the process is
// started and End as soon as it has been reaped.
type Result struct {
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	SeenAt   time.Time     `json:"seenAt,omitzero"`
	ReadyAt  time.Time     `json:"readyAt,omitzero"`
	ExitCode int           `json:"exitCode"` // -1 when killed by a signal
	Killed   bool          `json:"killed,omitempty"`
	User     time.Duration `json:"user"`
	Sys      time.Duration `json:"sys"`
	MaxRSS   int64         `json:"maxRSS"` // bytes, ru_maxrss of the process
	Err      string        `json:"error,omitempty"`
}

// Wall is how long the process ran.
func (r Result) Wall() time.Duration { return r.End.Sub(r.Start) }

// CPU is the user and system CPU time of the process (and of any children
// it waited for).
func (r Result) CPU() time.Duration { return r.User + r.Sys }

// OK says whether the process started and exited 0.
func (r Result) OK() bool { return r.Err == "" && r.ExitCode == 0 }

// Running is a started Cmd.
type Running struct {
	cmd  *exec.Cmd
	done chan struct{}
	res  Result

	mu      sync.Mutex
	seenAt  time.Time
	readyAt time.Time
	ready   chan struct{}
	output  sync.WaitGroup
}

// Start starts c in its own process group (so a Ctrl-C meant for the driver
// does not reach it before the driver decides). The process is killed if
// this one dies (Pdeathsig), when ctx ends or at c.Timeout.
func Start(ctx context.Context, c Cmd) (*Running, error) {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var logf *os.File
	if c.Log != "" {
		f, err := os.Create(c.Log)
		if err != nil {
			return nil, err
		}
		logf = f
	}
	// An os.Pipe rather than an io.Writer: exec's Wait then returns as soon
	// as the process is reaped, not when its output has been copied.
	pr, pw, err := os.Pipe()
	if err != nil {
		closeFile(logf)
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	r := &Running{cmd: cmd, done: make(chan struct{}), ready: make(chan struct{})}
	r.res.Start = time.Now()
	// Pdeathsig fires when the thread that forked the child ends, and a
	// thread ends with a goroutine that locked it (the local cluster's exec
	// sandbox does, in this process): fork from a locked thread that lives
	// until the child is reaped (golang/go#27505; localcluster does the same).
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		defer close(r.done)
		err := cmd.Wait()
		r.res.End = time.Now()
		r.finish(err)
	}()
	if err := <-started; err != nil {
		pw.Close()
		pr.Close()
		closeFile(logf)
		return nil, fmt.Errorf("starting %s: %w", c.Path, err)
	}
	pw.Close()
	r.output.Add(1)
	go func() {
		defer r.output.Done()
		defer closeFile(logf)
		r.copyOutput(pr, logf, c.Watch, c.Ready)
	}()
	go func() {
		t := time.NewTimer(c.Timeout)
		if c.Timeout <= 0 {
			t.Stop()
		}
		defer t.Stop()
		select {
		case <-r.done:
			return
		case <-ctx.Done():
		case <-t.C:
		}
		r.mu.Lock()
		r.res.Killed = true
		r.mu.Unlock()
		r.Stop(3 * time.Second)
	}()
	return r, nil
}

func closeFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}

func (r *Running) copyOutput(pr *os.File, logf *os.File, watch, ready string) {
	defer pr.Close()
	var w io.Writer = io.Discard
	if logf != nil {
		w = bufio.NewWriter(logf)
		defer w.(*bufio.Writer).Flush()
	}
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		now := time.Now()
		line := sc.Text()
		if watch != "" && strings.Contains(line, watch) {
			r.mu.Lock()
			if r.seenAt.IsZero() {
				r.seenAt = now
			}
			r.mu.Unlock()
		}
		if ready != "" && strings.Contains(line, ready) {
			r.mu.Lock()
			if r.readyAt.IsZero() {
				r.readyAt = now
				close(r.ready)
			}
			r.mu.Unlock()
		}
		fmt.Fprintf(w, "%8.1f %s\n", float64(now.Sub(r.res.Start).Microseconds())/1000, line)
	}
}

func (r *Running) finish(err error) {
	st := r.cmd.ProcessState
	if st != nil {
		r.res.ExitCode = st.ExitCode()
		r.res.User, r.res.Sys = st.UserTime(), st.SystemTime()
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			r.res.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
		}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		r.res.Err = err.Error()
	}
}

// Pid is the process id.
func (r *Running) Pid() int { return r.cmd.Process.Pid }

// Exited says whether the process has ended.
func (r *Running) Exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Ready is closed when the first output line holding Cmd.Ready arrives
// (never, without one).
func (r *Running) Ready() <-chan struct{} { return r.ready }

// Done is closed when the process has ended.
func (r *Running) Done() <-chan struct{} { return r.done }

// Wait waits for the process to end (and its output to be written) and
// returns its result.
func (r *Running) Wait() Result {
	<-r.done
	r.output.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.SeenAt, res.ReadyAt = r.seenAt, r.readyAt
	return res
}

// Stop sends SIGTERM to the process, then SIGKILL after grace, and waits
// for it to end. It signals through os.Process (a pidfd on Linux), so it
// never reaches a process that reused the pid.
func (r *Running) Stop(grace time.Duration) {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(grace):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// Run starts c and waits for it.
func Run(ctx context.Context, c Cmd) Result {
	r, err := Start(ctx, c)
	if err != nil {
		now := time.Now()
		return Result{Start: now, End: now, ExitCode: -1, Err: err.Error()}
	}
	return r.Wait()
}
