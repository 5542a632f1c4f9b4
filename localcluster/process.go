package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tailBytes is how much of a component's log an error quotes.
const tailBytes = 4096

// ExitedError reports a component that exited while it was expected to run,
// with the end of its log.
type ExitedError struct {
	Component string
	Err       error // from Wait: exit status or signal
	LogPath   string
	LogTail   string
}

func (e *ExitedError) Error() string {
	return fmt.Sprintf("%s exited early (%v); last lines of %s:\n%s", e.Component, e.Err, e.LogPath, e.LogTail)
}

func (e *ExitedError) Unwrap() error { return e.Err }

// NotReadyError reports a component that is still running but did not pass
// its readiness check in time, with the last check error.
type NotReadyError struct {
	Component string
	Waited    time.Duration
	Last      error
	LogPath   string
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("%s not ready after %s (log: %s): last check: %v", e.Component, e.Waited.Round(time.Millisecond), e.LogPath, e.Last)
}

func (e *NotReadyError) Unwrap() error { return e.Last }

// process is one child process of the cluster: a control-plane component or
// an add-on. Its output goes to logPath and its pid to pidPath.
type process struct {
	name     string
	path     string
	args     []string
	env      []string // nil means the parent's environment
	logPath  string
	pidPath  string
	detached bool
	ready    func(context.Context) error // health check, for Restart

	cmd     *exec.Cmd
	exited  chan struct{} // closed once Wait returned
	waitErr error
}

// start launches the process. In attached mode the child gets SIGKILL when
// the thread that started it dies (Pdeathsig), so nothing outlives a killed
// test; in detached mode it gets its own session so it outlives the parent.
func (p *process) start() error {
	if err := os.MkdirAll(filepath.Dir(p.logPath), 0o755); err != nil {
		return fmt.Errorf("creating log folder for %s: %w", p.name, err)
	}
	if err := os.MkdirAll(filepath.Dir(p.pidPath), 0o755); err != nil {
		return fmt.Errorf("creating pid folder for %s: %w", p.name, err)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("opening log of %s: %w", p.name, err)
	}
	defer logf.Close() // the child holds its own descriptor

	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("opening %s: %w", os.DevNull, err)
	}
	defer devnull.Close()

	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdin = devnull
	cmd.Stdout = logf
	cmd.Stderr = logf
	if p.detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	p.exited = make(chan struct{})
	started := make(chan error, 1)
	// Pdeathsig fires when the *thread* that forked the child exits, not the
	// process, and Go may retire threads. So the child is started from a
	// goroutine locked to its thread that stays alive, waiting, as long as
	// the child runs (golang/go#27505).
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		p.exited = nil
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	p.cmd = cmd
	if err := os.WriteFile(p.pidPath, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing pid file of %s: %w", p.name, err)
	}
	return nil
}

// pid returns the child's pid, or 0 before start.
func (p *process) pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// exitedError returns an *ExitedError if the process has exited, else nil.
func (p *process) exitedError() error {
	if p.exited == nil {
		return nil
	}
	select {
	case <-p.exited:
		err := p.waitErr
		if err == nil {
			err = errors.New("exit status 0")
		}
		return &ExitedError{Component: p.name, Err: err, LogPath: p.logPath, LogTail: logTail(p.logPath)}
	default:
		return nil
	}
}

// waitReady polls check until it succeeds, the process exits (an
// *ExitedError) or ctx ends (a *NotReadyError carrying the last check error).
func (p *process) waitReady(ctx context.Context, check func(context.Context) error) error {
	begin := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if err := p.exitedError(); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if err := p.exitedError(); err != nil {
				return err
			}
			return &NotReadyError{Component: p.name, Waited: time.Since(begin), Last: last, LogPath: p.logPath}
		case <-p.exited:
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM, then SIGKILL after grace, waits for the process and
// removes its pid file. Stopping a process that already exited is not an
// error.
func (p *process) stop(ctx context.Context, grace time.Duration) error {
	if p.cmd == nil {
		return nil
	}
	defer os.Remove(p.pidPath)
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending SIGTERM to %s: %w", p.name, err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending SIGKILL to %s: %w", p.name, err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 5s after SIGKILL", p.name, p.pid())
	}
}

// logTail returns the last lines of a log file, at most tailBytes.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	off := fi.Size() - tailBytes
	if off < 0 {
		off = 0
	}
	buf, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	if off > 0 {
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	return strings.TrimRight(string(buf), "\n")
}

// scrubEnv returns env without the variables whose names start with prefix
// (etcd reads every ETCD_* variable as a flag).
func scrubEnv(env []string, prefix string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}
