package image

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// Paths and the user inside the image.
const (
	BinaryPath = "/usr/local/bin/runner"
	CABundle   = "/etc/ssl/certs/ca-certificates.crt"
	Home       = "/tmp"
	UID        = 65532
	GID        = 65532
	UserName   = "nonroot"
)

// File is one entry of the image's filesystem.
type File struct {
	// Path is absolute and slash-separated, e.g. /etc/passwd.
	Path string
	// Mode holds the permission bits, fs.ModeDir for a folder and
	// fs.ModeSticky where it applies.
	Mode fs.FileMode
	// Data is a regular file's content.
	Data []byte
}

// Files returns everything the image holds, sorted by path so that each
// folder comes before what it contains: the folders, the user and group
// files, the CA bundle and the binary. Every entry belongs to root.
func Files(binary []byte) ([]File, error) {
	if len(binary) == 0 {
		return nil, fmt.Errorf("image files: the runner binary is empty")
	}
	certs, err := caBundle()
	if err != nil {
		return nil, err
	}
	files := []File{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(fmt.Sprintf(
			"root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", UserName, UID, GID, UserName, Home))},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(fmt.Sprintf("root:x:0:\n%s:x:%d:\n", UserName, GID))},
		{Path: CABundle, Mode: 0o644, Data: certs},
		{Path: Home, Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: BinaryPath, Mode: 0o755, Data: binary},
	}
	return withParents(files), nil
}

// withParents adds the folders above every entry (mode 0755) and sorts the
// result so that tar readers meet each folder before its contents.
func withParents(files []File) []File {
	seen := map[string]bool{}
	for _, f := range files {
		seen[f.Path] = true
	}
	out := slices.Clone(files)
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "/"; dir = path.Dir(dir) {
			if !seen[dir] {
				seen[dir] = true
				out = append(out, File{Path: dir, Mode: fs.ModeDir | 0o755})
			}
		}
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// caBundle is the PEM bundle of the Mozilla roots that
// golang.org/x/crypto/x509roots/fallback embeds, in its order. A root with
// a constraint PEM cannot carry (NSS's distrust-after date for new
// certificates) is left out rather than trusted without it.
func caBundle() ([]byte, error) {
	var buf bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, fmt.Errorf("encoding the CA bundle: %w", err)
		}
	}
	if buf.Len() == 0 {
		return nil, fmt.Errorf("encoding the CA bundle: x509roots/fallback has no unconstrained root")
	}
	return buf.Bytes(), nil
}

// layerTar is the uncompressed layer: files in order, owned by root, all
// stamped with mtime, in the USTAR format (no PAX records, no access or
// change times), so equal inputs give equal bytes.
func layerTar(files []File, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    strings.TrimPrefix(f.Path, "/"),
			Mode:    int64(f.Mode.Perm()),
			ModTime: mtime.UTC().Truncate(time.Second),
			Uname:   "root",
			Gname:   "root",
			Format:  tar.FormatUSTAR,
		}
		if f.Mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000 // c_ISVTX
		}
		if f.Mode.IsDir() {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteRootfs writes files below dir (created if missing, and empty
// otherwise) with their modes and mtime, for the Dockerfile to copy into a
// scratch image. Ownership is left to the copy (Docker makes it root's).
func WriteRootfs(dir string, files []File, mtime time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("rootfs %s: %w", dir, err)
	}
	if entries, err := os.ReadDir(dir); err != nil {
		return fmt.Errorf("rootfs %s: %w", dir, err)
	} else if len(entries) > 0 {
		return fmt.Errorf("rootfs %s: not empty", dir)
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		var err error
		if f.Mode.IsDir() {
			err = os.Mkdir(p, 0o700)
		} else {
			err = os.WriteFile(p, f.Data, 0o600)
		}
		if err == nil {
			err = os.Chmod(p, f.Mode&(fs.ModePerm|fs.ModeSticky))
		}
		if err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	// Folders last, children before parents: writing a child changes its
	// folder's mtime.
	for _, f := range slices.Backward(files) {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	return nil
}
