package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// VersionVar is the variable GoBuild sets to the version (-X).
const VersionVar = "github.com/scenario-runner/runner/cli.Version"

// BuildOptions say how to build the binary.
type BuildOptions struct {
	// Dir is the module's root folder; "." when empty.
	Dir string
	// Out is the binary's path.
	Out string
	// Arch is GOARCH: amd64 when empty.
	Arch string
	// Version goes into the binary through VersionVar; "dev" when empty.
	Version string
	// Go is the go command; "go" when empty.
	Go string
}

// BuildArgs are the arguments of `go build` for o: a stripped binary with no
// build id, no VCS stamp and no file system paths, so that the same source
// and toolchain give the same bytes wherever they are built.
func BuildArgs(o BuildOptions) []string {
	version := o.Version
	if version == "" {
		version = "dev"
	}
	return []string{"build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X " + VersionVar + "=" + version,
		"-o", o.Out, "."}
}

// BuildEnv is the environment of `go build`: the caller's, less the
// variables that would change the binary (GOFLAGS, GOAMD64, GOARM64,
// GOEXPERIMENT, CGO_*), plus a static linux build for o.Arch.
func BuildEnv(o BuildOptions, environ []string) []string {
	arch := o.Arch
	if arch == "" {
		arch = "amd64"
	}
	var env []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "GOFLAGS", k == "GOOS", k == "GOARCH", k == "GOAMD64", k == "GOARM64", k == "GOEXPERIMENT",
			strings.HasPrefix(k, "CGO_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
}

// GoBuild builds the runner binary reproducibly (BuildArgs, BuildEnv).
// A failure returns go's messages with it.
func GoBuild(ctx context.Context, o BuildOptions) error {
	if o.Out == "" {
		return fmt.Errorf("go build: no output path")
	}
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, BuildArgs(o)...)
	cmd.Dir = o.Dir
	cmd.Env = BuildEnv(o, os.Environ())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(BuildArgs(o), " "), err, stderr.Bytes())
	}
	return nil
}
