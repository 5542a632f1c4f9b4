package kube

import (
	"context"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// ExecRequest is one command to run in a container of a pod.
type ExecRequest struct {
	Namespace, Pod, Container string
	Command                   []string
	// Stdin, when set, is copied to the command's standard input, which is
	// closed at its end; nil gives the command no standard input.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// SPDY skips WebSocket (for tests of the fallback).
	SPDY bool
}

// Exec runs r through the pods/exec subresource, as kubectl exec does:
// over WebSocket (RemoteCommand v5), falling back to SPDY on servers that
// do not upgrade to it. A command that ran and exited non-zero is not an
// error: its exit code is returned. The stream ends with ctx.
func (c *Client) Exec(ctx context.Context, r ExecRequest) (int, error) {
	return Exec(ctx, c.Config, r)
}

// Exec is Client.Exec for a rest.Config.
func Exec(ctx context.Context, cfg *rest.Config, r ExecRequest) (int, error) {
	rc, err := rest.RESTClientFor(execConfig(cfg))
	if err != nil {
		return 0, fmt.Errorf("client for pods/exec: %w", err)
	}
	req := rc.Post().Resource("pods").Namespace(r.Namespace).Name(r.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: r.Container, Command: r.Command,
			Stdin: r.Stdin != nil, Stdout: r.Stdout != nil, Stderr: r.Stderr != nil,
		}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return 0, fmt.Errorf("SPDY executor: %w", err)
	}
	// WebSocket must be a GET (RFC 6455 4.1); kubectl's fallback rule.
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return 0, fmt.Errorf("WebSocket executor: %w", err)
	}
	var ex remotecommand.Executor = spdy
	if !r.SPDY {
		ex, err = remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		if err != nil {
			return 0, fmt.Errorf("exec executor: %w", err)
		}
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr})
	if code, ok := ExitCode(err); ok {
		return code, nil
	}
	if err != nil && ctx.Err() != nil {
		// The stream is closed; runner's side of it is gone.
		if cause := context.Cause(ctx); !errors.Is(err, cause) {
			return 0, fmt.Errorf("exec stream closed: %w (%v)", cause, err)
		}
		return 0, fmt.Errorf("exec stream closed: %w", err)
	}
	return 0, err
}

// ExitCode reports the exit code an exec stream ended with: 0 for nil, the
// command's code for a non-zero exit, and false for any other error.
func ExitCode(err error) (int, bool) {
	if err == nil {
		return 0, true
	}
	var ee utilexec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitStatus(), true
	}
	return 0, false
}

// execConfig is cfg set up for the core group's REST client.
func execConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.APIPath = "/api"
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return c
}
