package image

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Source is the repository the image is built from, its
// org.opencontainers.image.source label.
const Source = "https://github.com/scenario-runner/runner"

// Options say what goes into the image. Only Binary is required; the rest
// have defaults (withDefaults).
type Options struct {
	// Binary is the static linux runner binary (GoBuild's output).
	Binary []byte
	// Arch is the binary's GOARCH: amd64 (the default) or arm64.
	Arch string
	// Version is the version the binary was built with (-X cli.Version);
	// "dev" when empty.
	Version string
	// Revision is the commit the binary was built from; "unknown" when
	// empty.
	Revision string
	// Created is the config's creation time and every file's mtime: the
	// commit's time under `make image`. The zero value means 1970-01-01.
	Created time.Time
}

func (o Options) withDefaults() Options {
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Revision == "" {
		o.Revision = "unknown"
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0)
	}
	o.Created = o.Created.UTC().Truncate(time.Second)
	return o
}

// Labels are the image's labels for a version and revision; the Dockerfile
// sets the same.
func Labels(version, revision string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "runner",
		"org.opencontainers.image.description": "Declarative scenario runner for Kubernetes",
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    revision,
	}
}

// Config is the image's runtime configuration: the non-root user by number
// (so that runAsNonRoot can check it without reading /etc/passwd), the
// binary as entrypoint, and the labels.
func Config(version, revision string) v1.Config {
	return v1.Config{
		User:       strconv.Itoa(UID) + ":" + strconv.Itoa(GID),
		Entrypoint: []string{BinaryPath},
		Env: []string{
			"PATH=/usr/local/bin",
			"HOME=" + Home,
			"SSL_CERT_FILE=" + CABundle,
		},
		WorkingDir: Home,
		Labels:     Labels(version, revision),
	}
}

// Build assembles the image: one gzip layer of Files on an empty base, with
// OCI media types and Config. The same options give the same digest.
func Build(opts Options) (v1.Image, error) {
	o := opts.withDefaults()
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return nil, fmt.Errorf("image: architecture %q: want amd64 or arm64", o.Arch)
	}
	files, err := Files(o.Binary)
	if err != nil {
		return nil, err
	}
	raw, err := layerTar(files, o.Created)
	if err != nil {
		return nil, err
	}
	// Compress once here: go-containerregistry would compress again for
	// every digest and every write.
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gz.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}

	created := v1.Time{Time: o.Created}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   created,
			CreatedBy: "runner image/cmd/build (make image)",
			Comment:   "static runner binary, CA certificates, user " + UserName,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = o.Arch, "linux", created
	cf.Config = Config(o.Version, o.Revision)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	return img, nil
}

// Tag is the name the tarball gives the image, runner:VERSION, with the
// characters a tag may not hold (such as + of semver build metadata)
// replaced by '-'.
func Tag(version string) (name.Tag, error) {
	t := regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(version, "-")
	if t == "" || t[0] == '.' || t[0] == '-' {
		t = "v" + t
	}
	if len(t) > 128 {
		t = t[:128]
	}
	tag, err := name.NewTag("runner:" + t)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image tag for version %q: %w", version, err)
	}
	return tag, nil
}

// Written says what Write wrote.
type Written struct {
	// Digest is the manifest's digest, as in the OCI layout and as a
	// registry has it after `crane push LAYOUT`.
	Digest v1.Hash
	// PushedFromTarball is the digest after `crane push TARBALL`: the
	// tarball (docker save's format) keeps the config and the layer but not
	// the manifest, which crane writes anew in Docker's media types.
	PushedFromTarball v1.Hash
	// ImageID is the config's digest, the ID `docker load` prints.
	ImageID v1.Hash
	// Size is the compressed size of config and layer, what a pull
	// downloads.
	Size int64
}

// Write writes img as a tarball that `docker load` and `crane push` accept,
// tagged tag, and as an OCI image layout in the folder layoutDir (replaced
// if it is one already; refused if it is anything else).
func Write(img v1.Image, tag name.Tag, tarPath, layoutDir string) (Written, error) {
	var w Written
	if err := os.MkdirAll(filepath.Dir(tarPath), 0o755); err != nil {
		return w, fmt.Errorf("image tarball: %w", err)
	}
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		return w, fmt.Errorf("image tarball %s: %w", tarPath, err)
	}
	if err := resetLayout(layoutDir); err != nil {
		return w, err
	}
	lp, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		return w, fmt.Errorf("image layout %s: %w", layoutDir, err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag.TagStr(),
	})); err != nil {
		return w, fmt.Errorf("image layout %s: %w", layoutDir, err)
	}

	if w.Digest, err = img.Digest(); err != nil {
		return w, fmt.Errorf("image digest: %w", err)
	}
	if w.ImageID, err = img.ConfigName(); err != nil {
		return w, fmt.Errorf("image config digest: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return w, fmt.Errorf("image manifest: %w", err)
	}
	w.Size = m.Config.Size
	for _, l := range m.Layers {
		w.Size += l.Size
	}
	fromTar, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		return w, fmt.Errorf("reading back %s: %w", tarPath, err)
	}
	if w.PushedFromTarball, err = fromTar.Digest(); err != nil {
		return w, fmt.Errorf("reading back %s: %w", tarPath, err)
	}
	return w, nil
}

// resetLayout removes an earlier OCI layout at dir, so that its blobs do not
// pile up, and refuses to touch a folder that is not one.
func resetLayout(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("image layout %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return fmt.Errorf("image layout %s: exists and is not an OCI layout (no oci-layout file); not replacing it", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("image layout %s: %w", dir, err)
	}
	return nil
}
