package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// scriptedExec is a kubelet's exec endpoint whose command is a Go function:
// it writes to the streams as a container's command would and returns its
// exit code.
type scriptedExec func(ctx context.Context, out, errOut io.WriteCloser) int

func (f scriptedExec) ExecInContainer(ctx context.Context, _, _, _ string, _ []string, _ io.Reader, out, errOut io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	if code := f(ctx, out, errOut); code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// execEndpoint serves pods/exec with f with the kubelet's streaming code,
// where the API server would pass the request on to a kubelet. Tests use
// SPDY: this endpoint has no WebSocket v5, which the API server translates
// to SPDY for a kubelet; client-go copies the output the same way for both.
func execEndpoint(t *testing.T, f scriptedExec) *rest.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		opts := &remotecommand.Options{Stdin: q.Get("stdin") == "true", Stdout: q.Get("stdout") == "true", Stderr: q.Get("stderr") == "true"}
		remotecommand.ServeExec(w, r, f, "default/pod", "", "app", r.URL.Query()["command"], opts,
			time.Minute, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

// raceBuffer is one bytes.Buffer given as stdout and stderr. Where the exec
// client hands it to io.Copy from two goroutines at once, copying each
// stream with the buffer's ReadFrom, it forces the order in which the
// output was lost (issue 19): both copies are reading (each ReadFrom has
// taken the buffer's length, 0) before any data lands, and stdout's copy
// ends before stderr's. Data that comes through Write needs no forcing.
// landed is closed once stdout's data is in the buffer.
type raceBuffer struct {
	bytes.Buffer
	reading sync.WaitGroup
	once    sync.Once
	landed  chan struct{}
}

func newRaceBuffer() *raceBuffer {
	b := &raceBuffer{landed: make(chan struct{})}
	b.reading.Add(2) // stdout and stderr
	return b
}

func (b *raceBuffer) ReadFrom(r io.Reader) (int64, error) {
	n, err := b.Buffer.ReadFrom(&barrierReader{r: r, wg: &b.reading})
	if n > 0 {
		b.once.Do(func() { close(b.landed) })
	}
	return n, err
}

func (b *raceBuffer) Write(p []byte) (int, error) {
	n, err := b.Buffer.Write(p)
	b.once.Do(func() { close(b.landed) })
	return n, err
}

// barrierReader's first Read waits until every reader of wg has started
// reading.
type barrierReader struct {
	r       io.Reader
	wg      *sync.WaitGroup
	started bool
}

func (r *barrierReader) Read(p []byte) (int, error) {
	if !r.started {
		r.started = true
		r.wg.Done()
		r.wg.Wait()
	}
	return r.r.Read(p)
}

// TestExecSharedWriterKeepsOutput: one *bytes.Buffer given as both stdout
// and stderr (as os/exec allows) came back empty with the right exit code
// (issue 19: TestExecDetached got `code 3, output ""`, and
// TestIntegrationVolumeKeepsData an empty md5sum message). client-go copies
// stdout and stderr in two goroutines with io.Copy, which calls the
// buffer's ReadFrom: the idle stream's ReadFrom, at its end, set the
// buffer's length back to what it was when it started, erasing the other
// stream's output. The command here writes stdout only and exits 3; its
// stderr ends after stdout's output has landed.
func TestExecSharedWriterKeepsOutput(t *testing.T) {
	buf := newRaceBuffer()
	cfg := execEndpoint(t, func(ctx context.Context, out, errOut io.WriteCloser) int {
		if _, err := io.WriteString(out, "exec-detached\n"); err != nil {
			t.Errorf("writing stdout: %v", err)
		}
		out.Close()
		select {
		case <-buf.landed:
		case <-ctx.Done():
		}
		errOut.Close()
		return 3
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	code, err := Exec(ctx, cfg, ExecRequest{Namespace: "default", Pod: "pod", Command: []string{"sh", "-c", "hostname; exit 3"}, Stdout: buf, Stderr: buf, SPDY: true})
	if err != nil || code != 3 || buf.String() != "exec-detached\n" {
		t.Fatalf("exec: code %d, output %q, err %v; want code 3, output \"exec-detached\\n\"", code, buf.String(), err)
	}
}

// failingWriter fails every write, as a full or closed output would.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestExecReportsFailedWrite: output that could not be written is an error
// of Exec, not a silent loss (client-go only logs its copy errors), even
// when the command exits non-zero.
func TestExecReportsFailedWrite(t *testing.T) {
	cfg := execEndpoint(t, func(ctx context.Context, out, errOut io.WriteCloser) int {
		io.WriteString(out, "data\n")
		io.WriteString(errOut, "message\n")
		return 3
	})
	cases := []struct {
		name           string
		stdout, stderr io.Writer
		want           string
	}{
		{name: "stdout", stdout: failingWriter{}, stderr: &bytes.Buffer{}, want: "writing the command's stdout: disk full"},
		{name: "stderr", stdout: &bytes.Buffer{}, stderr: failingWriter{}, want: "writing the command's stderr: disk full"},
		{name: "both", stdout: failingWriter{}, stderr: failingWriter{}, want: "writing the command's stdout: disk full\nwriting the command's stderr: disk full"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			code, err := Exec(ctx, cfg, ExecRequest{Namespace: "default", Pod: "pod", Command: []string{"cmd"}, Stdout: tc.stdout, Stderr: tc.stderr, SPDY: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exec: code %d, err %v; want an error with %q", code, err, tc.want)
			}
		})
	}
}

// TestExecOutputs: both streams arrive whole, in their own writers or in
// one shared writer.
func TestExecOutputs(t *testing.T) {
	cfg := execEndpoint(t, func(ctx context.Context, out, errOut io.WriteCloser) int {
		io.WriteString(out, "data\n")
		io.WriteString(errOut, "message\n")
		out.Close()
		errOut.Close()
		return 0
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errOut, both bytes.Buffer
	if code, err := Exec(ctx, cfg, ExecRequest{Namespace: "default", Pod: "pod", Command: []string{"cmd"}, Stdout: &out, Stderr: &errOut, SPDY: true}); err != nil || code != 0 {
		t.Fatalf("exec: code %d, err %v", code, err)
	}
	if out.String() != "data\n" || errOut.String() != "message\n" {
		t.Errorf("stdout %q, stderr %q; want \"data\\n\", \"message\\n\"", out.String(), errOut.String())
	}
	if code, err := Exec(ctx, cfg, ExecRequest{Namespace: "default", Pod: "pod", Command: []string{"cmd"}, Stdout: &both, Stderr: &both, SPDY: true}); err != nil || code != 0 {
		t.Fatalf("exec: code %d, err %v", code, err)
	}
	if s := both.String(); s != "data\nmessage\n" && s != "message\ndata\n" {
		t.Errorf("shared output %q; want both lines", s)
	}
}
