package files_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/scenario-runner/runner/engine/files"
)

func TestRead(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	mk := func(path, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk(filepath.Join(root, "plan", "m.yaml"), "kind: A")
	mk(filepath.Join(root, "shared", "s.yaml"), "kind: B")
	mk(filepath.Join(outside, "secret.yaml"), "kind: C")
	mk(filepath.Join(root, "plan", "big.yaml"), strings.Repeat("x", files.MaxBytes+1))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(root, "plan", "out.yaml")))
	must(os.Symlink(filepath.Join(root, "shared", "s.yaml"), filepath.Join(root, "plan", "in.yaml")))
	must(os.Symlink("/proc/self/environ", filepath.Join(root, "plan", "env.yaml")))
	must(syscall.Mkfifo(filepath.Join(root, "plan", "fifo.yaml"), 0o644))

	r, err := files.NewRoot(root)
	must(err)
	base := filepath.Join(root, "plan")
	for _, tc := range []struct {
		path, want string // want: the content, or a part of the error
	}{
		{"m.yaml", "kind: A"},
		{"../shared/s.yaml", "kind: B"}, // .. that stays inside the root
		{"in.yaml", "kind: B"},          // a symlink that stays inside
		{filepath.Join(root, "plan", "m.yaml"), "kind: A"},
		{"../../" + filepath.Base(outside) + "/secret.yaml", "is outside"},
		{filepath.Join(outside, "secret.yaml"), "is outside"},
		{"out.yaml", "resolves to"},
		{"env.yaml", "under /proc"},
		{"/proc/self/environ", "under /proc"},
		{"/dev/zero", "under /dev"},
		{"/sys/kernel/mm/transparent_hugepage/enabled", "under /sys"},
		{"fifo.yaml", "a FIFO, not a regular file"},
		{".", "a folder, not a regular file"},
		{"big.yaml", "above the limit"},
		{"missing.yaml", "no such file"},
	} {
		data, err := r.Read(base, tc.path)
		got := string(data)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("Read(%s) = %q, want %q", tc.path, got, tc.want)
		}
		if err != nil && strings.Contains(tc.want, " ") && tc.want != "no such file" && !errors.Is(err, files.ErrRefused) {
			t.Errorf("Read(%s): %v is not ErrRefused", tc.path, err)
		}
	}

	got, err := r.Glob(base, "m*.yaml")
	if err != nil || len(got) != 1 {
		t.Errorf("Glob inside = %v, %v", got, err)
	}
	if _, err := r.Glob(base, "*.yaml"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Glob over links that leave the root: got %v, want refused", err)
	}
	for _, pattern := range []string{filepath.Join(outside, "*.yaml"), "/*/*/*", "../../*/*"} {
		if got, err := r.Glob(base, pattern); err == nil || !errors.Is(err, files.ErrRefused) {
			t.Errorf("Glob(%s) outside the root: %v, %v; want refused before walking", pattern, got, err)
		}
	}
}

func TestReadFileRefusesKernelFiles(t *testing.T) {
	for _, p := range []string{"/proc/self/environ", "/proc/self/cmdline", "/dev/stdin", "/dev/zero"} {
		if _, err := files.ReadFile(p); !errors.Is(err, files.ErrRefused) {
			t.Errorf("ReadFile(%s): %v, want refused", p, err)
		}
	}
}

// TestReads: the root lists each file it returned once, by its real path,
// in the order first read; refused and missing files are not listed.
func TestReads(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "sub/b.yaml"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "a.yaml"), filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	r, err := files.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sub/b.yaml", "a.yaml", "link.yaml", "sub/b.yaml", "missing.yaml", "/etc/hostname"} {
		_, _ = r.Read(dir, p)
	}
	want := []string{filepath.Join(r.Dir(), "sub/b.yaml"), filepath.Join(r.Dir(), "a.yaml")}
	if got := r.Reads(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Reads() = %q, want %q", got, want)
	}
}
