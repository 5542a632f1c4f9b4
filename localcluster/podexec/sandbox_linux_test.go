package podexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newSandbox is a sandbox with one writable volume at /data and one
// read-only one at /ro, or skips the test without root.
func newSandbox(t *testing.T) (sandbox, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the sandbox needs root (mount namespaces)")
	}
	dir := t.TempDir()
	root, data, ro := filepath.Join(dir, "root"), filepath.Join(dir, "data"), filepath.Join(dir, "ro")
	for _, d := range []string{root, data, ro} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := ownedDir(data); err != nil {
		t.Fatal(err)
	}
	return sandbox{root: root, mounts: []mount{{Source: data, Target: "/data"}, {Source: ro, Target: "/ro", ReadOnly: true}}, env: []string{"PATH=/usr/bin:/bin", "HOME=/tmp"}}, data
}

func runIn(t *testing.T, sb sandbox, stdin *string, argv ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	var in *strings.Reader
	if stdin != nil {
		in = strings.NewReader(*stdin)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var code int
	var err error
	if in != nil {
		code, err = sb.run(ctx, argv, in, &out, &errOut)
	} else {
		code, err = sb.run(ctx, argv, nil, &out, &errOut)
	}
	if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	return out.String(), errOut.String(), code
}

func TestSandbox(t *testing.T) {
	sb, data := newSandbox(t)
	hostFile := filepath.Join(os.TempDir(), fmt.Sprintf("podexec-escape-%d", time.Now().UnixNano()))
	text := "hello\nworld\n"
	cases := []struct {
		name     string
		argv     []string
		stdin    *string
		wantOut  string
		wantErr  string
		wantCode int
	}{
		{name: "stdout", argv: []string{"echo", "hi"}, wantOut: "hi\n"},
		{name: "exit code", argv: []string{"sh", "-c", "echo oops >&2; exit 3"}, wantErr: "oops\n", wantCode: 3},
		{name: "not found", argv: []string{"no-such-tool"}, wantErr: "executable file not found", wantCode: 127},
		{name: "stdin is closed at its end", argv: []string{"cat"}, stdin: &text, wantOut: text},
		{name: "no stdin", argv: []string{"cat"}, wantOut: ""},
		{name: "runs as nobody", argv: []string{"id", "-u"}, wantOut: "65534\n"},
		{name: "the volume is writable", argv: []string{"sh", "-c", "echo data > /data/f && cat /data/f"}, wantOut: "data\n"},
		{name: "a read-only volume", argv: []string{"sh", "-c", "echo x > /ro/f"}, wantErr: "Read-only file system", wantCode: 2},
		{name: "the host's /usr is read-only", argv: []string{"touch", "/usr/escape"}, wantErr: "Read-only file system", wantCode: 1},
		{name: "the host's /etc is read-only", argv: []string{"sh", "-c", "echo x >> /etc/passwd"}, wantErr: "cannot create /etc/passwd", wantCode: 2},
		{name: "the root is not writable", argv: []string{"touch", "/escape"}, wantErr: "Permission denied", wantCode: 1},
		{name: "/tmp is the sandbox's own", argv: []string{"sh", "-c", "echo x > " + hostFile + " && ls /tmp"}, wantOut: filepath.Base(hostFile) + "\n"},
		{name: "no mounting", argv: []string{"mount", "-t", "tmpfs", "x", "/tmp"}, wantErr: "", wantCode: 32},
		{name: "no other processes", argv: []string{"sh", "-c", "kill -0 1 && echo $$"}, wantOut: "1\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runIn(t, sb, tc.stdin, tc.argv...)
			if code != tc.wantCode || out != tc.wantOut || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q", tc.argv, code, out, errOut, tc.wantCode, tc.wantOut, tc.wantErr)
			}
		})
	}
	if _, err := os.Stat(hostFile); err == nil {
		os.Remove(hostFile)
		t.Errorf("the sandbox wrote the host's %s", hostFile)
	}
	if b, err := os.ReadFile(filepath.Join(data, "f")); err != nil || string(b) != "data\n" {
		t.Errorf("the volume's file on the host: %q, %v", b, err)
	}
	for _, p := range []string{"/usr/escape", "/escape"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the sandbox wrote the host's %s", p)
		}
	}
}

// TestSandboxKilledWithContext: the command and what it started die when
// the context ends (a caller's Ctrl-C); nothing is left running.
func TestSandboxKilledWithContext(t *testing.T) {
	sb, _ := newSandbox(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	marker := fmt.Sprintf("%d.25", 4000+time.Now().UnixNano()%1000)
	start := time.Now()
	var out bytes.Buffer
	_, err := sb.run(ctx, []string{"sh", "-c", "sleep " + marker + " & sleep " + marker}, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("err %v, want killed", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s to kill", took)
	}
	time.Sleep(200 * time.Millisecond)
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), marker) {
			t.Errorf("still running: %s (%q)", p, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

// failingWriter fails every write, as a stream whose connection is gone.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stream closed") }

// TestSandboxLostOutputIsAnError: output the sandbox could not write is an
// error, whatever the exit code. exec.Cmd.Wait reports a failed copy only
// when the command exited 0, so a command that exited 3 came back as exit
// 3 with its output silently gone (issue 19).
func TestSandboxLostOutputIsAnError(t *testing.T) {
	sb, _ := newSandbox(t)
	cases := []struct {
		name           string
		argv           []string
		stdout, stderr io.Writer
		want           string
	}{
		{name: "stdout, exit 3", argv: []string{"sh", "-c", "echo hi; exit 3"}, stdout: failingWriter{}, stderr: io.Discard,
			want: `"sh" exited 3, but its output was not all delivered: writing the command's stdout: stream closed`},
		{name: "stderr, exit 3", argv: []string{"sh", "-c", "echo oops >&2; exit 3"}, stdout: io.Discard, stderr: failingWriter{},
			want: `"sh" exited 3, but its output was not all delivered: writing the command's stderr: stream closed`},
		{name: "stdout, exit 0", argv: []string{"echo", "hi"}, stdout: failingWriter{}, stderr: io.Discard, want: "stream closed"},
		{name: "not found", argv: []string{"no-such-tool"}, stdout: io.Discard, stderr: failingWriter{},
			want: `"no-such-tool" exited 127, but its output was not all delivered: writing the command's stderr: stream closed`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			code, err := sb.run(ctx, tc.argv, nil, tc.stdout, tc.stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q: exit %d, err %v; want an error with %q", tc.argv, code, err, tc.want)
			}
		})
	}
}
