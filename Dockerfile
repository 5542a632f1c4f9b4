# syntax=docker/dockerfile:1
# runner's image for people who build with Docker. `make image` builds the
# same image without Docker (image/, bin/runner-image.tar); this file gives the
# same contents: the build stage runs the same Go code (image/cmd/build
# -rootfs) to build the static binary and write the image's files, and the
# scratch stage copies them (Docker makes them root's, as make image does) and
# sets the same user, environment, entrypoint and labels. image/image_test.go
# fails when those lines drift from package image. The digest is not make
# image's: Docker writes its own layer tar and history.
#
#   docker build \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) \
#     -t runner:dev .

# The Go version of go.mod's go line.
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Set by BuildKit from --platform (linux/amd64 or linux/arm64).
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE_DATE_EPOCH=0
RUN go run ./image/cmd/build -arch "${TARGETARCH:-amd64}" -version "$VERSION" -revision "$REVISION" \
      -created "$SOURCE_DATE_EPOCH" -binary-out /tmp/runner -rootfs /rootfs

FROM scratch
COPY --from=build /rootfs/ /
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="runner"
LABEL org.opencontainers.image.description="Declarative scenario runner for Kubernetes"
LABEL org.opencontainers.image.source="https://github.com/scenario-runner/runner"
LABEL org.opencontainers.image.version="${VERSION}"
LABEL org.opencontainers.image.revision="${REVISION}"
ENV PATH="/usr/local/bin"
ENV HOME="/tmp"
ENV SSL_CERT_FILE="/etc/ssl/certs/ca-certificates.crt"
WORKDIR /tmp
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/runner"]
