//go:build !linux

package podexec

import (
	"context"
	"errors"
	"io"
)

// sandbox needs Linux's namespaces; elsewhere exec is refused.
type sandbox struct {
	root     string
	mounts   []mount
	dir      string
	env      []string
	hostname string
}

func (sandbox) run(context.Context, []string, io.Reader, io.Writer, io.Writer) (int, error) {
	return 0, errors.New("the local cluster's exec needs Linux (mount and PID namespaces)")
}
