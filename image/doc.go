// Package image builds runner's container image from a built binary, without
// Docker and without a registry, using go-containerregistry.
//
// The image is one layer on an empty base (FROM scratch): the static binary at
// /usr/local/bin/runner (the entrypoint), /etc/passwd and /etc/group naming the
// user nonroot (65532:65532, the image's user), the Mozilla root certificates
// pinned in go.mod (golang.org/x/crypto/x509roots/fallback) as a PEM bundle at
// /etc/ssl/certs/ca-certificates.crt, and a world-writable /tmp (HOME). Every
// file belongs to root, so the runtime user cannot change any of them; the
// Job runs it with a read-only root filesystem and mounts emptyDirs where it
// writes.
//
// The image is reproducible: the same binary, version, revision and creation
// time give the same bytes, hence the same digest, on any machine. Nothing is
// read from the build machine (no host certificates, users, clock, hostname or
// environment); tar entries are sorted, owned by 0:0, and stamped with the
// creation time (the commit's time under `make image`). GoBuild builds the
// binary itself reproducibly (static, -trimpath, no build id, no VCS stamp),
// so the same commit built with the same Go toolchain gives the same digest.
//
// Files is the single list of what the image holds: Build puts it in the
// layer and WriteRootfs writes it to a folder, which the repository's
// Dockerfile copies into a scratch image, so both ways give the same files.
// The Dockerfile repeats Build's user, environment, entrypoint and labels; a
// test fails when they drift.
//
// The package writes only where it is told (Write, WriteRootfs) and never
// pushes anywhere.
package image
