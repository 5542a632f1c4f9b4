package podexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// sandbox is where one command runs: root is an empty folder that gets a
// tmpfs in a private mount namespace, with the host's system folders
// read-only and the mounts bound in.
type sandbox struct {
	root   string
	mounts []mount
	dir    string // working directory inside; "" is /
	env    []string
	// hostname is what the command's uname says (the pod's name).
	hostname string
}

// hostPaths are bound read-only into the sandbox (a symlink is copied as a
// symlink: /bin -> usr/bin on a merged-/usr system).
var hostPaths = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// devices are bound from the host's /dev.
var devices = []string{"null", "zero", "full", "random", "urandom"}

// run runs argv in the sandbox and returns its exit code. A command that
// cannot be found exits 127, as in a shell. The command is killed when ctx
// ends; stdin (when given) is closed at its end. Output that could not be
// written to out or errOut is an error, whatever the exit code.
func (sb sandbox) run(ctx context.Context, argv []string, in io.Reader, out, errOut io.Writer) (int, error) {
	stdout, stderr := &outputWriter{what: "stdout", w: out}, &outputWriter{what: "stderr", w: errOut}
	code, err := sb.runWith(ctx, argv, in, stdout, stderr)
	if err != nil {
		return code, err
	}
	// exec.Cmd.Wait reports a failed copy of the output only when the
	// command exited 0; with any other code the output was lost silently
	// (and the caller got an exit code and no output).
	if werr := errors.Join(stdout.err, stderr.err); werr != nil {
		return 0, fmt.Errorf("%q exited %d, but its output was not all delivered: %w", argv[0], code, werr)
	}
	return code, nil
}

// outputWriter keeps the first failed write of one of the command's
// streams. It is written by exec.Cmd's copying goroutine and read once
// Cmd.Wait, which waits for that goroutine, has returned.
type outputWriter struct {
	what string // "stdout" or "stderr"
	w    io.Writer
	err  error
}

func (o *outputWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil && o.err == nil {
		o.err = fmt.Errorf("writing the command's %s: %w", o.what, err)
	}
	return n, err
}

func (sb sandbox) runWith(ctx context.Context, argv []string, in io.Reader, out, errOut io.Writer) (int, error) {
	type started struct {
		cmd *exec.Cmd
		err error
	}
	startc, waitc := make(chan started, 1), make(chan error, 1)
	go func() {
		// The namespace belongs to this thread only; it is never unlocked,
		// so the thread ends with the goroutine and its namespace with the
		// command. The thread stays while the command runs: Pdeathsig kills
		// the command if this process dies.
		runtime.LockOSThread()
		cmd, err := sb.start(argv, in, out, errOut)
		startc <- started{cmd, err}
		if err == nil {
			waitc <- cmd.Wait()
		}
	}()
	st := <-startc
	if st.err != nil {
		var nf *notFoundError
		if errors.As(st.err, &nf) {
			_, _ = fmt.Fprintln(errOut, nf.Error()) // a failed write is kept by errOut
			return 127, nil
		}
		return 0, st.err
	}
	var err error
	select {
	case err = <-waitc:
	case <-ctx.Done():
		// The command is PID 1 of its PID namespace: killing it kills
		// everything it started.
		_ = st.cmd.Process.Kill()
		<-waitc
		return 0, fmt.Errorf("command killed: %w", context.Cause(ctx))
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
	}
	return 0, fmt.Errorf("running %q: %w", argv[0], err)
}

type notFoundError struct{ name string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("exec: %q: executable file not found in $PATH", e.name)
}

// start builds the sandbox in this thread's new mount namespace and starts
// argv in it. It must run on a locked thread that is then thrown away.
func (sb sandbox) start(argv []string, in io.Reader, out, errOut io.Writer) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	// The UTS namespace is made here too, so that the hostname is the pod's.
	if err := syscall.Unshare(syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS); err != nil {
		return nil, fmt.Errorf("podexec: a mount namespace (needs root): %w", err)
	}
	if sb.hostname != "" {
		if err := syscall.Sethostname([]byte(sb.hostname)); err != nil {
			return nil, fmt.Errorf("podexec: hostname: %w", err)
		}
	}
	// Nothing mounted from here on reaches the host.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("podexec: making mounts private: %w", err)
	}
	if err := syscall.Mount("tmpfs", sb.root, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755,size=64m"); err != nil {
		return nil, fmt.Errorf("podexec: sandbox root: %w", err)
	}
	for _, p := range hostPaths {
		if err := sb.hostPath(p); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(filepath.Join(sb.root, "dev"), 0o755); err != nil {
		return nil, fmt.Errorf("podexec: %w", err)
	}
	for _, d := range devices {
		target := filepath.Join(sb.root, "dev", d)
		if err := os.WriteFile(target, nil, 0o644); err != nil {
			return nil, fmt.Errorf("podexec: %w", err)
		}
		if err := syscall.Mount("/dev/"+d, target, "", syscall.MS_BIND|syscall.MS_NOSUID, ""); err != nil {
			return nil, fmt.Errorf("podexec: binding /dev/%s: %w", d, err)
		}
	}
	if err := os.Mkdir(filepath.Join(sb.root, "tmp"), 0o777|os.ModeSticky); err != nil {
		return nil, fmt.Errorf("podexec: %w", err)
	}
	if err := os.Chmod(filepath.Join(sb.root, "tmp"), 0o777|os.ModeSticky); err != nil {
		return nil, fmt.Errorf("podexec: %w", err)
	}
	for _, m := range sb.mounts {
		target := filepath.Join(sb.root, m.Target)
		if err := os.MkdirAll(target, 0o755); err != nil {
			return nil, fmt.Errorf("podexec: mount point %s: %w", m.Target, err)
		}
		if err := bind(m.Source, target, m.ReadOnly); err != nil {
			return nil, fmt.Errorf("podexec: mounting %s: %w", m.Target, err)
		}
	}
	path, err := sb.lookPath(argv[0])
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Env: sb.env, Dir: "/", Stdout: out, Stderr: errOut}
	if sb.dir != "" {
		if fi, err := os.Stat(filepath.Join(sb.root, sb.dir)); err == nil && fi.IsDir() {
			cmd.Dir = sb.dir
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     sb.root,
		Credential: &syscall.Credential{Uid: sandboxUID, Gid: sandboxGID, Groups: []uint32{}},
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	var stdin io.WriteCloser
	if in != nil {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return nil, fmt.Errorf("podexec: %w", err)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("podexec: starting %q: %w", argv[0], err)
	}
	if stdin != nil {
		go func() {
			_, _ = io.Copy(stdin, in)
			stdin.Close() // the end of the stream is the end of stdin
		}()
	}
	return cmd, nil
}

// hostPath copies p of the host into the sandbox, read-only.
func (sb sandbox) hostPath(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil // not on this system
	}
	target := filepath.Join(sb.root, p)
	if fi.Mode()&os.ModeSymlink != 0 {
		dest, err := os.Readlink(p)
		if err != nil {
			return fmt.Errorf("podexec: %w", err)
		}
		return os.Symlink(dest, target)
	}
	if !fi.IsDir() {
		return nil
	}
	if err := os.Mkdir(target, 0o755); err != nil {
		return fmt.Errorf("podexec: %w", err)
	}
	return bind(p, target, true)
}

// bind mounts source at target, nosuid and nodev, read-only if asked.
func bind(source, target string, readOnly bool) error {
	flags := uintptr(syscall.MS_BIND | syscall.MS_REC | syscall.MS_NOSUID | syscall.MS_NODEV)
	if err := syscall.Mount(source, target, "", flags, ""); err != nil {
		return fmt.Errorf("binding %s: %w", source, err)
	}
	// The flags of a bind mount are set by a remount.
	flags = syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_NOSUID | syscall.MS_NODEV
	if readOnly {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("", target, "", flags, ""); err != nil {
		return fmt.Errorf("remounting %s: %w", target, err)
	}
	return nil
}

// lookPath finds name on the sandbox's PATH, as a path inside it.
func (sb sandbox) lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range sb.env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(filepath.Join(sb.root, p)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &notFoundError{name: name}
}
