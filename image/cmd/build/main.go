// Command build makes runner's container image without Docker: it builds
// the static binary (package image's GoBuild), assembles the image and
// writes it as a tarball for `docker load` and `crane push` and as an OCI
// layout, then prints the digests on stdout. `make image` runs it with the
// commit's version, revision and time.
//
// With -rootfs DIR it writes only the image's files into DIR, for the
// Dockerfile to copy into a scratch image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/scenario-runner/runner/image"
)

// Exit codes, decided here only.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

type config struct {
	binary, binaryOut          string
	version, revision, arch    string
	created                    time.Time
	tarPath, layoutDir, rootfs string
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(exitOK)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(exitUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = run(ctx, cfg, os.Stdout, os.Stderr)
	switch {
	case err == nil:
		return
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "build: interrupted")
		stop()
		os.Exit(exitInterrupted)
	default:
		fmt.Fprintln(os.Stderr, "build:", err)
		stop()
		os.Exit(exitFailed)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var created string
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.binary, "binary", "", "use this runner binary instead of building one (it must be static, for linux/-arch)")
	fs.StringVar(&c.binaryOut, "binary-out", "", "where to build the binary (default bin/runner-linux-ARCH)")
	fs.StringVar(&c.version, "version", "dev", "version: the binary's `runner version` and the label org.opencontainers.image.version")
	fs.StringVar(&c.revision, "revision", "unknown", "commit: the label org.opencontainers.image.revision")
	fs.StringVar(&c.arch, "arch", "amd64", "GOARCH of the image: amd64 or arm64")
	fs.StringVar(&created, "created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time and file mtimes, Unix seconds (the commit's: git log -1 --format=%ct); default $SOURCE_DATE_EPOCH, else 0")
	fs.StringVar(&c.tarPath, "tar", "bin/runner-image.tar", "the tarball to write (docker load, crane push)")
	fs.StringVar(&c.layoutDir, "layout", "bin/runner-image-oci", "the OCI layout folder to write (replaced if it is one)")
	fs.StringVar(&c.rootfs, "rootfs", "", "only write the image's files into this empty folder (for the Dockerfile)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if created == "" {
		created = "0"
	}
	secs, err := strconv.ParseInt(created, 10, 64)
	if err != nil || secs < 0 {
		return c, fmt.Errorf("-created %q: want Unix seconds", created)
	}
	c.created = time.Unix(secs, 0).UTC()
	if c.binaryOut == "" {
		c.binaryOut = "bin/runner-linux-" + c.arch
	}
	return c, nil
}

func run(ctx context.Context, c config, stdout, stderr io.Writer) error {
	binPath := c.binary
	if binPath == "" {
		binPath = c.binaryOut
		fmt.Fprintf(stderr, "build: go build (linux/%s, static) -o %s\n", c.arch, binPath)
		if err := image.GoBuild(ctx, image.BuildOptions{Out: binPath, Arch: c.arch, Version: c.version}); err != nil {
			return err
		}
	}
	binary, err := os.ReadFile(binPath)
	if err != nil {
		return fmt.Errorf("reading the binary: %w", err)
	}
	if c.rootfs != "" {
		files, err := image.Files(binary)
		if err != nil {
			return err
		}
		if err := image.WriteRootfs(c.rootfs, files, c.created); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rootfs: %s\n", c.rootfs)
		return nil
	}
	img, err := image.Build(image.Options{Binary: binary, Arch: c.arch, Version: c.version, Revision: c.revision, Created: c.created})
	if err != nil {
		return err
	}
	tag, err := image.Tag(c.version)
	if err != nil {
		return err
	}
	w, err := image.Write(img, tag, c.tarPath, c.layoutDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tarball:  %s (tag %s)\n", c.tarPath, tag.String())
	fmt.Fprintf(stdout, "layout:   %s\n", c.layoutDir)
	fmt.Fprintf(stdout, "digest:   %s (OCI manifest; crane push %s)\n", w.Digest, c.layoutDir)
	fmt.Fprintf(stdout, "          %s (crane push %s)\n", w.PushedFromTarball, c.tarPath)
	fmt.Fprintf(stdout, "image id: %s (docker load)\n", w.ImageID)
	fmt.Fprintf(stdout, "size:     %d bytes compressed (%.1f MiB)\n", w.Size, float64(w.Size)/(1<<20))
	return nil
}
