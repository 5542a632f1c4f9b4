package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// ExecRequest is one command to run in a container of a pod.
type ExecRequest struct {
	Namespace, Pod, Container string
	Command                   []string
	// Stdin, when set, is copied to the command's standard input, which is
	// closed at its end; nil gives the command no standard input.
	Stdin io.Reader
	// Stdout and Stderr get the command's output; nil asks for none. As
	// with os/exec, they may be one writer, which then gets one Write at a
	// time; two writers are written concurrently. A failed Write is an error
	// of Exec.
	Stdout, Stderr io.Writer
	// SPDY skips WebSocket (for tests of the fallback).
	SPDY bool
}

// Exec runs r through the pods/exec subresource, as kubectl exec does:
// over WebSocket (RemoteCommand v5), falling back to SPDY on servers that
// do not upgrade to it. A command that ran and exited non-zero is not an
// error: its exit code is returned. Output that could not be written to
// r.Stdout or r.Stderr is an error, returned with the exit code. The
// stream ends with ctx.
func (c *Client) Exec(ctx context.Context, r ExecRequest) (int, error) {
	return Exec(ctx, c.Config, r)
}

// Exec is Client.Exec for a rest.Config.
func Exec(ctx context.Context, cfg *rest.Config, r ExecRequest) (int, error) {
	stdout, stderr := outputs(r.Stdout, r.Stderr)
	// Nothing is written into the caller's writers once Exec has returned
	// (client-go's copies may outlive a cancelled stream).
	defer stdout.close()
	defer stderr.close()
	rc, err := rest.RESTClientFor(execConfig(cfg))
	if err != nil {
		return 0, fmt.Errorf("client for pods/exec: %w", err)
	}
	req := rc.Post().Resource("pods").Namespace(r.Namespace).Name(r.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: r.Container, Command: r.Command,
			Stdin: r.Stdin != nil, Stdout: r.Stdout != nil, Stderr: r.Stderr != nil,
		}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return 0, fmt.Errorf("SPDY executor: %w", err)
	}
	// WebSocket must be a GET (RFC 6455 4.1); kubectl's fallback rule.
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return 0, fmt.Errorf("WebSocket executor: %w", err)
	}
	var ex remotecommand.Executor = spdy
	if !r.SPDY {
		ex, err = remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		if err != nil {
			return 0, fmt.Errorf("exec executor: %w", err)
		}
	}
	opts := remotecommand.StreamOptions{Stdin: r.Stdin}
	if stdout != nil {
		opts.Stdout = stdout
	}
	if stderr != nil {
		opts.Stderr = stderr
	}
	err = ex.StreamWithContext(ctx, opts)
	if code, ok := ExitCode(err); ok {
		// client-go only logs a failed copy into our writers and still
		// reports the exit code: lost output must not pass as output.
		return code, errors.Join(stdout.failed(), stderr.failed())
	}
	if err != nil && ctx.Err() != nil {
		// The stream is closed; runner's side of it is gone.
		if cause := context.Cause(ctx); !errors.Is(err, cause) {
			return 0, fmt.Errorf("exec stream closed: %w (%v)", cause, err)
		}
		return 0, fmt.Errorf("exec stream closed: %w", err)
	}
	return 0, err
}

// output is where one of the command's streams goes. client-go copies
// stdout and stderr in two goroutines with io.Copy, which hands a writer
// that has ReadFrom (a *bytes.Buffer) the stream to read itself; two
// ReadFrom calls on one buffer lost output (issue 19: each sets the
// buffer's length, at its end, from the length it saw at its start, so the
// idle stream's end erased what the other stream had written). output has
// only Write, holds a lock shared by stdout and stderr when they are one
// writer, and keeps the first failed write, which client-go would only log.
type output struct {
	what string // "stdout" or "stderr"
	w    io.Writer
	mu   *sync.Mutex
	err  error // the first failed write; under mu
	done bool  // Exec has returned; under mu
}

// outputs returns the outputs of stdout and stderr (nil for a nil
// writer), sharing one lock when they are the same writer.
func outputs(stdout, stderr io.Writer) (*output, *output) {
	var o, e *output
	if stdout != nil {
		o = &output{what: "stdout", w: stdout, mu: &sync.Mutex{}}
	}
	if stderr != nil {
		e = &output{what: "stderr", w: stderr, mu: &sync.Mutex{}}
		if o != nil && sameWriter(stdout, stderr) {
			e.mu = o.mu
		}
	}
	return o, e
}

// sameWriter reports whether a and b are one writer (false for writers
// whose types cannot be compared), as os/exec decides it.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

var errExecReturned = errors.New("exec has returned")

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return 0, errExecReturned
	}
	n, err := o.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil && o.err == nil {
		o.err = fmt.Errorf("writing the command's %s: %w", o.what, err)
	}
	return n, err
}

// failed returns the first failed write (nil for a nil output).
func (o *output) failed() error {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// close makes later writes fail without touching the caller's writer.
func (o *output) close() {
	if o == nil {
		return
	}
	o.mu.Lock()
	o.done = true
	o.mu.Unlock()
}

// ExitCode reports the exit code an exec stream ended with: 0 for nil, the
// command's code for a non-zero exit, and false for any other error.
func ExitCode(err error) (int, bool) {
	if err == nil {
		return 0, true
	}
	var ee utilexec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitStatus(), true
	}
	return 0, false
}

// execConfig is cfg set up for the core group's REST client.
func execConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.APIPath = "/api"
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return c
}
