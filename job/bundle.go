package job

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// MaxConfigMapBytes is the API server's limit on a ConfigMap: its keys and
// values together may hold at most 1 MiB.
const MaxConfigMapBytes = 1 << 20

// ErrTooBig marks plans and files that do not fit in one ConfigMap.
var ErrTooBig = errors.New("too big for a ConfigMap")

// File is one file a pod needs: Path is where the pod sees it, relative to
// the folder the ConfigMap is mounted at (slash-separated, no ..); Source
// names it for people (the local path).
type File struct {
	Path   string
	Source string
	Data   []byte
}

// mounted is a File with its ConfigMap key.
type mounted struct {
	File
	key string
}

// keyed gives each file a ConfigMap key: keys cannot hold '/', so the
// volume's items map keys back to paths. Files are sorted by path; the
// prefix keeps keys unique whatever the paths' characters.
func keyed(prefix string, files []File) []mounted {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b File) int { return cmp.Compare(a.Path, b.Path) })
	out := make([]mounted, len(sorted))
	for i, f := range sorted {
		k := fmt.Sprintf("%s%03d-%s", prefix, i, keyChars(f.Path))
		if len(k) > 253 {
			k = k[:253]
		}
		out[i] = mounted{File: f, key: k}
	}
	return out
}

// keyChars replaces what a ConfigMap key may not hold ([-._a-zA-Z0-9]).
func keyChars(p string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			return r
		}
		return '_'
	}, p)
}

// checkPaths refuses paths a volume item cannot have.
func checkPaths(files []File) error {
	seen := map[string]bool{}
	for _, f := range files {
		c := path.Clean(f.Path)
		if f.Path == "" || c != f.Path || path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
			return fmt.Errorf("file %s: path %q in the pod must be relative and clean", f.Source, f.Path)
		}
		if seen[c] {
			return fmt.Errorf("file %s: path %q given twice", f.Source, f.Path)
		}
		seen[c] = true
	}
	return nil
}

// checkSize refuses files that, with their keys, exceed MaxConfigMapBytes,
// naming the biggest.
func checkSize(files []mounted) error {
	total := 0
	for _, f := range files {
		total += len(f.key) + len(f.Data)
	}
	if total <= MaxConfigMapBytes {
		return nil
	}
	big := slices.Clone(files)
	slices.SortStableFunc(big, func(a, b mounted) int { return cmp.Compare(len(b.Data), len(a.Data)) })
	var names []string
	for _, f := range big[:min(5, len(big))] {
		names = append(names, fmt.Sprintf("%s (%d bytes)", f.Source, len(f.Data)))
	}
	return fmt.Errorf("%w: the plans and the files they read are %d bytes, above the %d a ConfigMap may hold; the biggest: %s",
		ErrTooBig, total, MaxConfigMapBytes, strings.Join(names, ", "))
}
