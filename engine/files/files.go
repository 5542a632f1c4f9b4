// Package files reads the files a plan names (manifests given with file:,
// values files) so that a plan cannot read what it should not: each file
// must be a regular file inside a root folder (the plan's folder, or
// --root), symlinks resolved before the check, no device, FIFO, socket or
// /proc, /sys, /dev path, and no bigger than MaxBytes.
//
// Errors name the path and the rule it broke; they never quote the file's
// content. Nothing here writes anything.
package files

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// MaxBytes is the largest file a manifest or values file may be (a plan
// has its own, smaller limit). Parsed, a byte of YAML can cost 60.
const MaxBytes = 2 << 20

// ErrRefused marks a path that breaks one of the rules of this package.
var ErrRefused = errors.New("refused")

// forbidden are the trees no plan may read from, whatever the root: their
// files are kernel interfaces (environment, memory, devices), not plans.
var forbidden = []string{"/proc", "/sys", "/dev"}

// Root is a folder that files must resolve into.
type Root struct {
	dir string // absolute, symlinks resolved

	mu    sync.Mutex
	reads []string // real paths Read returned, in order, once each
}

// NewRoot returns the root at dir.
func NewRoot(dir string) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("root %s is not a folder", dir)
	}
	return &Root{dir: real}, nil
}

// Dir is the root's absolute path.
func (r *Root) Dir() string { return r.dir }

// Resolve returns the real path of path (relative paths are relative to
// base), or an error when it leaves the root or is forbidden.
func (r *Root) Resolve(base, path string) (string, error) {
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if err := checkForbidden(p); err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	if err := checkForbidden(real); err != nil {
		return "", err
	}
	if !inside(r.dir, real) {
		if real != p {
			return "", fmt.Errorf("%w: %s resolves to %s, outside %s (give --root to widen)", ErrRefused, p, real, r.dir)
		}
		return "", fmt.Errorf("%w: %s is outside %s (give --root to widen)", ErrRefused, p, r.dir)
	}
	return real, nil
}

// Read reads path (relative to base) after Resolve's checks.
func (r *Root) Read(base, path string) ([]byte, error) {
	real, err := r.Resolve(base, path)
	if err != nil {
		return nil, err
	}
	data, err := ReadFile(real)
	if err == nil {
		r.mu.Lock()
		if !slices.Contains(r.reads, real) {
			r.reads = append(r.reads, real)
		}
		r.mu.Unlock()
	}
	return data, err
}

// Reads lists the real paths of the files Read has returned, each once, in
// the order first read: what a plan needs beside itself to load elsewhere
// (runner job puts them in a ConfigMap).
func (r *Root) Reads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reads)
}

// Glob returns the matches of pattern (relative to base), sorted. Every
// match must resolve inside the root; the first that does not is an error,
// not a silent omission.
func (r *Root) Glob(base, pattern string) ([]string, error) {
	p := pattern
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	// The folder the pattern starts from must be inside, so that a glob
	// such as /*/*/* never walks the machine.
	if static := staticPrefix(p); static != p {
		if _, err := os.Stat(static); err == nil {
			if _, err := r.Resolve("", static); err != nil {
				return nil, err
			}
		}
	}
	matches, err := filepath.Glob(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		if _, err := r.Resolve("", m); err != nil {
			// The first is enough: a glob that leaves the root is wrong.
			return nil, err
		}
		out = append(out, m)
	}
	slices.Sort(out)
	return out, nil
}

// staticPrefix is the folder part of pattern before its first wildcard.
func staticPrefix(pattern string) string {
	i := strings.IndexAny(pattern, `*?[\`)
	if i < 0 {
		return pattern
	}
	return filepath.Dir(pattern[:i] + "x")
}

// ReadFile reads a regular file of at most MaxBytes, refusing /proc, /sys
// and /dev. It opens without blocking, so a FIFO cannot hang it, and checks
// the opened file itself, so a swap between check and open cannot fool it.
func ReadFile(path string) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := checkForbidden(abs); err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	if err := checkForbidden(abs); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is %s, not a regular file", ErrRefused, path, describeMode(fi.Mode()))
	}
	if fi.Size() > MaxBytes {
		return nil, fmt.Errorf("%w: %s is %d bytes, above the limit of %d", ErrRefused, path, fi.Size(), MaxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%w: %s is above the limit of %d bytes", ErrRefused, path, MaxBytes)
	}
	return data, nil
}

func checkForbidden(abs string) error {
	for _, f := range forbidden {
		if inside(f, abs) {
			return fmt.Errorf("%w: %s is under %s, which holds kernel interfaces, not files of a plan", ErrRefused, abs, f)
		}
	}
	return nil
}

// inside reports whether path is dir or below it (both absolute, clean).
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file (" + m.String() + ")"
}
