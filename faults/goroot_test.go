package faults

import (
	"os"
	"runtime"
)

// runtimeGOROOT is the Go installation that built the test, for `go build`.
func runtimeGOROOT() string {
	if g := os.Getenv("GOROOT"); g != "" {
		return g
	}
	return runtime.GOROOT() //nolint:staticcheck // the toolchain that runs the test
}
