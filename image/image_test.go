package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var (
	fakeBinary = []byte("\x7fELF not really a binary")
	commitTime = time.Date(2026, 12, 6, 23, 59, 1, 0, time.UTC)
)

func testOptions() Options {
	return Options{Binary: fakeBinary, Version: "v1.2.3", Revision: "0123456789abcdef0123456789abcdef01234567", Created: commitTime}
}

func mustBuild(t *testing.T, o Options) v1.Image {
	t.Helper()
	img, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// layerEntries reads the image's only layer back.
func layerEntries(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte, []string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	headers, data := map[string]*tar.Header{}, map[string][]byte{}
	var order []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		headers[h.Name], data[h.Name] = h, b
		order = append(order, h.Name)
	}
	return headers, data, order
}

func TestBuildConfig(t *testing.T) {
	img := mustBuild(t, testOptions())
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	uid, gid, ok := strings.Cut(cf.Config.User, ":")
	if n, err := strconv.Atoi(uid); !ok || err != nil || n == 0 {
		t.Errorf("User = %q, want a numeric non-root uid:gid", cf.Config.User)
	}
	if n, err := strconv.Atoi(gid); err != nil || n == 0 {
		t.Errorf("User = %q, want a numeric non-root gid", cf.Config.User)
	}
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"user", cf.Config.User, "65532:65532"},
		{"entrypoint", cf.Config.Entrypoint, []string{"/usr/local/bin/runner"}},
		{"cmd", cf.Config.Cmd, []string(nil)},
		{"env", cf.Config.Env, []string{"PATH=/usr/local/bin", "HOME=/tmp", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}},
		{"working dir", cf.Config.WorkingDir, "/tmp"},
		{"version label", cf.Config.Labels["org.opencontainers.image.version"], "v1.2.3"},
		{"revision label", cf.Config.Labels["org.opencontainers.image.revision"], "0123456789abcdef0123456789abcdef01234567"},
		{"source label", cf.Config.Labels["org.opencontainers.image.source"], "https://github.com/scenario-runner/runner"},
		{"title label", cf.Config.Labels["org.opencontainers.image.title"], "runner"},
		{"os", cf.OS, "linux"},
		{"architecture", cf.Architecture, "amd64"},
		{"created", cf.Created.Time.UTC(), commitTime},
		{"history created", cf.History[0].Created.Time.UTC(), commitTime},
		{"layers in history", len(cf.History), 1},
		{"hostname", cf.Config.Hostname, ""},
	} {
		if !equal(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.what, tc.got, tc.want)
		}
	}
	mt, err := img.MediaType()
	if err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %q, %v; want %q", mt, err, types.OCIManifestSchema1)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("config and layer media types %q, %q; want OCI's", m.Config.MediaType, m.Layers[0].MediaType)
	}
}

func equal(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok && bok {
		return slices.Equal(as, bs)
	}
	if at, ok := a.(time.Time); ok {
		return at.Equal(b.(time.Time))
	}
	return a == b
}

func TestLayerContents(t *testing.T) {
	headers, data, order := layerEntries(t, mustBuild(t, testOptions()))
	for _, tc := range []struct {
		name string
		typ  byte
		mode int64
	}{
		{"etc/", tar.TypeDir, 0o755},
		{"etc/group", tar.TypeReg, 0o644},
		{"etc/passwd", tar.TypeReg, 0o644},
		{"etc/ssl/", tar.TypeDir, 0o755},
		{"etc/ssl/certs/", tar.TypeDir, 0o755},
		{"etc/ssl/certs/ca-certificates.crt", tar.TypeReg, 0o644},
		{"tmp/", tar.TypeDir, 0o1777},
		{"usr/", tar.TypeDir, 0o755},
		{"usr/local/", tar.TypeDir, 0o755},
		{"usr/local/bin/", tar.TypeDir, 0o755},
		{"usr/local/bin/runner", tar.TypeReg, 0o755},
	} {
		h := headers[tc.name]
		if h == nil {
			t.Errorf("%s: missing from the layer", tc.name)
			continue
		}
		if h.Typeflag != tc.typ || h.Mode != tc.mode || h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(commitTime) {
			t.Errorf("%s: type %c mode %o owner %d:%d mtime %s; want type %c mode %o owner 0:0 mtime %s",
				tc.name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime, tc.typ, tc.mode, commitTime)
		}
	}
	if len(headers) != 11 {
		t.Errorf("layer has %d entries %v, want the 11 above", len(headers), order)
	}
	if !slices.IsSorted(order) {
		t.Errorf("layer entries not sorted: %v", order)
	}
	if !bytes.Equal(data["usr/local/bin/runner"], fakeBinary) {
		t.Error("the binary in the layer is not the one given")
	}
	if !strings.Contains(string(data["etc/passwd"]), "\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n") {
		t.Errorf("/etc/passwd has no nonroot user:\n%s", data["etc/passwd"])
	}
	if !strings.Contains(string(data["etc/group"]), "\nnonroot:x:65532:\n") {
		t.Errorf("/etc/group has no nonroot group:\n%s", data["etc/group"])
	}
	n := 0
	for rest := data["etc/ssl/certs/ca-certificates.crt"]; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Fatalf("CA bundle certificate %d: %v", n, err)
		}
		n++
	}
	if n < 100 {
		t.Errorf("CA bundle holds %d certificates, want the ~115 Mozilla roots", n)
	}
}

// TestSameInputsSameDigest: equal options give equal digests; each input
// that should show in the image changes it.
func TestSameInputsSameDigest(t *testing.T) {
	base := digest(t, mustBuild(t, testOptions()))
	for _, tc := range []struct {
		name   string
		change func(*Options)
		same   bool
	}{
		{"same options", func(*Options) {}, true},
		{"created in another zone", func(o *Options) { o.Created = commitTime.In(time.FixedZone("x", 3600)) }, true},
		{"sub-second created", func(o *Options) { o.Created = commitTime.Add(300 * time.Millisecond) }, true},
		{"other binary", func(o *Options) { o.Binary = []byte("\x7fELF another") }, false},
		{"other version", func(o *Options) { o.Version = "v1.2.4" }, false},
		{"other revision", func(o *Options) { o.Revision = "fedcba" }, false},
		{"other time", func(o *Options) { o.Created = commitTime.Add(time.Second) }, false},
		{"other arch", func(o *Options) { o.Arch = "arm64" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			tc.change(&o)
			if got := digest(t, mustBuild(t, o)); (got == base) != tc.same {
				t.Errorf("digest %s, base %s; want same=%v", got, base, tc.same)
			}
		})
	}
}

func TestBuildRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no binary", Options{}, "binary is empty"},
		{"unknown arch", Options{Binary: fakeBinary, Arch: "s390x"}, `architecture "s390x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Build(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestTag(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"v1.2.3", "runner:v1.2.3"},
		{"754db74-dirty", "runner:754db74-dirty"},
		{"v1.2.3+build.5", "runner:v1.2.3-build.5"},
		{"", "runner:v"},
		{"-x", "runner:v-x"},
		{strings.Repeat("a", 200), "runner:" + strings.Repeat("a", 128)},
	} {
		got, err := Tag(tc.version)
		if err != nil || got.String() != tc.want {
			t.Errorf("Tag(%q) = %s, %v; want %s", tc.version, got, err, tc.want)
		}
	}
}

// TestWriteReadsBack writes the tarball and the layout and reads both back
// with go-containerregistry, validating them as `crane validate` does.
func TestWriteReadsBack(t *testing.T) {
	img := mustBuild(t, testOptions())
	tag, err := Tag("v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tarPath, layoutDir := filepath.Join(dir, "bin", "runner-image.tar"), filepath.Join(dir, "bin", "runner-image-oci")
	w, err := Write(img, tag, tarPath, layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	if w.Digest != digest(t, img) || w.Size <= int64(len(fakeBinary)) {
		t.Errorf("Write says digest %s size %d; image digest %s", w.Digest, w.Size, digest(t, img))
	}

	fromTar, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(fromTar); err != nil {
		t.Errorf("tarball: %v", err)
	}
	id, err := fromTar.ConfigName()
	if err != nil || id != w.ImageID {
		t.Errorf("tarball config digest %s, %v; want %s", id, err, w.ImageID)
	}
	if d := digest(t, fromTar); d != w.PushedFromTarball {
		t.Errorf("tarball manifest digest %s, Write says %s", d, w.PushedFromTarball)
	}
	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(tarPath) })
	if err != nil || len(manifest) != 1 || !slices.Equal(manifest[0].RepoTags, []string{"runner:v1.2.3"}) {
		t.Errorf("tarball manifest.json %+v, %v; want one image tagged runner:v1.2.3", manifest, err)
	}

	idx, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("layout index %+v, %v; want one manifest", im, err)
	}
	desc := im.Manifests[0]
	if desc.Digest != w.Digest || desc.MediaType != types.OCIManifestSchema1 || desc.Annotations["org.opencontainers.image.ref.name"] != "v1.2.3" {
		t.Errorf("layout descriptor %+v; want digest %s, OCI manifest, ref.name v1.2.3", desc, w.Digest)
	}
	fromLayout, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(fromLayout); err != nil {
		t.Errorf("layout: %v", err)
	}

	// Writing again replaces the layout rather than adding to it.
	if _, err := Write(img, tag, tarPath, layoutDir); err != nil {
		t.Fatal(err)
	}
	if idx, err = layout.ImageIndexFromPath(layoutDir); err != nil {
		t.Fatal(err)
	}
	if im, err = idx.IndexManifest(); err != nil || len(im.Manifests) != 1 {
		t.Errorf("layout written twice: %d manifests, %v; want 1", len(im.Manifests), err)
	}
}

func TestWriteRefusesAFolderThatIsNoLayout(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag, _ := Tag("v1")
	_, err := Write(mustBuild(t, testOptions()), tag, filepath.Join(t.TempDir(), "i.tar"), dir)
	if err == nil || !strings.Contains(err.Error(), "not an OCI layout") {
		t.Errorf("Write over a folder with other files: %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
		t.Errorf("the folder's file is gone: %v", err)
	}
}

// TestRootfsMatchesLayer: the folder the Dockerfile copies holds what the
// layer holds, with the same modes, contents and mtimes.
func TestRootfsMatchesLayer(t *testing.T) {
	files, err := Files(fakeBinary)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := WriteRootfs(dir, files, commitTime); err != nil {
		t.Fatal(err)
	}
	headers, data, _ := layerEntries(t, mustBuild(t, testOptions()))
	seen := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			name += "/"
		}
		h := headers[name]
		if h == nil {
			t.Errorf("rootfs has %s, the layer does not", name)
			return nil
		}
		seen++
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := int64(info.Mode().Perm())
		if info.Mode()&fs.ModeSticky != 0 {
			mode |= 0o1000
		}
		if mode != h.Mode || !info.ModTime().Equal(h.ModTime) {
			t.Errorf("%s: rootfs mode %o mtime %s, layer %o %s", name, mode, info.ModTime(), h.Mode, h.ModTime)
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !bytes.Equal(b, data[name]) {
				t.Errorf("%s: rootfs and layer contents differ", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(headers) {
		t.Errorf("rootfs has %d of the layer's %d entries", seen, len(headers))
	}
	if err := WriteRootfs(dir, files, commitTime); err == nil {
		t.Error("WriteRootfs into a folder that is not empty: no error")
	}
}

// TestDockerfileMatchesConfig: the Dockerfile's user, environment,
// entrypoint, working directory and labels are Config's.
func TestDockerfileMatchesConfig(t *testing.T) {
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args := map[string]string{"VERSION": "v9", "REVISION": "abc"}
	labels, env := map[string]string{}, []string(nil)
	var user, workdir, entrypoint string
	final := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		instr, rest, _ := strings.Cut(line, " ")
		if instr == "FROM" {
			final = strings.HasPrefix(rest, "scratch")
		}
		if !final {
			continue
		}
		switch instr {
		case "LABEL", "ENV":
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				t.Fatalf("Dockerfile: %q: want one KEY=\"VALUE\" per line", line)
			}
			v, err := strconv.Unquote(v)
			if err != nil {
				t.Fatalf("Dockerfile: %q: want one KEY=\"VALUE\" per line", line)
			}
			v = os.Expand(v, func(name string) string { return args[name] })
			if instr == "LABEL" {
				labels[k] = v
			} else {
				env = append(env, k+"="+v)
			}
		case "USER":
			user = rest
		case "WORKDIR":
			workdir = rest
		case "ENTRYPOINT":
			entrypoint = rest
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := Config("v9", "abc")
	if !maps.Equal(labels, want.Labels) {
		t.Errorf("Dockerfile labels %v, want %v", labels, want.Labels)
	}
	if !slices.Equal(env, want.Env) {
		t.Errorf("Dockerfile env %v, want %v", env, want.Env)
	}
	wantEntrypoint := `["` + strings.Join(want.Entrypoint, `", "`) + `"]`
	if user != want.User || workdir != want.WorkingDir || entrypoint != wantEntrypoint {
		t.Errorf("Dockerfile USER %q WORKDIR %q ENTRYPOINT %s; want %q %q %s", user, workdir, entrypoint, want.User, want.WorkingDir, wantEntrypoint)
	}
}

func TestBuildEnv(t *testing.T) {
	got := BuildEnv(BuildOptions{Arch: "arm64"}, []string{
		"HOME=/root", "GOFLAGS=-race", "GOAMD64=v3", "CGO_ENABLED=1", "CGO_CFLAGS=-O3", "GOOS=darwin", "GOPROXY=off",
	})
	want := []string{"HOME=/root", "GOPROXY=off", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}
	if !slices.Equal(got, want) {
		t.Errorf("BuildEnv = %v, want %v", got, want)
	}
}

// TestSameCommitSameDigest is the proof behind `make image`: building the
// binary from this source twice, into two folders, and the image from each
// gives the same digest; the binary reports the version it was given.
func TestSameCommitSameDigest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds runner twice (a few seconds with a warm -trimpath build cache, minutes without)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var digests []v1.Hash
	for i := range 2 {
		out := filepath.Join(t.TempDir(), "runner"+strconv.Itoa(i))
		o := BuildOptions{Dir: "..", Out: out, Version: "v0.0.0-test"}
		start := time.Now()
		if err := GoBuild(ctx, o); err != nil {
			t.Fatal(err)
		}
		binary, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		img := mustBuild(t, Options{Binary: binary, Version: "v0.0.0-test", Revision: "test", Created: commitTime})
		digests = append(digests, digest(t, img))
		t.Logf("build %d: %d-byte binary, image %s (%s)", i+1, len(binary), digests[i], time.Since(start).Round(time.Millisecond))
		if i == 0 && runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
			got, err := exec.CommandContext(ctx, out, "version").Output()
			if err != nil || string(got) != "runner v0.0.0-test\n" {
				t.Errorf("runner version: %q, %v; want \"runner v0.0.0-test\\n\" (is VersionVar right?)", got, err)
			}
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of the same source: %s and %s", digests[0], digests[1])
	}
}
