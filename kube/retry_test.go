package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTransient(t *testing.T) {
	cm := schema.GroupResource{Resource: "configmaps"}
	refused := &url.Error{Op: "Delete", URL: "https://127.0.0.1:6443/api/v1/namespaces/default/configmaps/a",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", refused, true},
		{"connection reset", fmt.Errorf("wrapped: %w", syscall.ECONNRESET), true},
		{"EOF", &url.Error{Op: "Get", URL: "x", Err: io.EOF}, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"429", apierrors.NewTooManyRequests("slow down", 1), true},
		{"500", apierrors.NewInternalError(errors.New("etcdserver: request timed out")), true},
		{"503", apierrors.NewServiceUnavailable("unavailable"), true},
		{"504", apierrors.NewTimeoutError("timeout", 1), true},
		{"server timeout", apierrors.NewServerTimeout(cm, "delete", 1), true},
		{"gRPC Unavailable in a message", errors.New("rpc error: code = Unavailable desc = connection closed"), true},
		{"http2 connection lost", errors.New("http2: client connection lost"), true},
		{"not found", apierrors.NewNotFound(cm, "a"), false},
		{"conflict", apierrors.NewConflict(cm, "a", errors.New("changed")), false},
		{"invalid", apierrors.NewBadRequest("metadata.name: Invalid value: \"BAD-NAME\""), false},
		{"forbidden", apierrors.NewForbidden(cm, "a", errors.New("no")), false},
		{"cancelled", fmt.Errorf("delete: %w", context.Canceled), false},
		{"deadline", &url.Error{Op: "Get", URL: "x", Err: context.DeadlineExceeded}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestWebhookDenied(t *testing.T) {
	cm := schema.GroupResource{Group: "longhorn.io", Resource: "volumes"}
	denied := apierrors.NewForbidden(cm, "v", errors.New(`admission webhook "validator.longhorn.io" denied the request: volume is attached`))
	if !WebhookDenied(denied) {
		t.Errorf("WebhookDenied(%v) = false", denied)
	}
	if Transient(denied) {
		t.Errorf("a webhook's refusal is not transient by itself")
	}
	if WebhookDenied(apierrors.NewForbidden(cm, "v", errors.New("RBAC"))) {
		t.Errorf("an RBAC refusal is no webhook's")
	}
}

// Retry sends again after transient errors, counts them, stops at the
// first other error, and when the context ends returns the last real
// error rather than the context's.
func TestRetry(t *testing.T) {
	refused := fmt.Errorf("dial tcp 127.0.0.1:1: %w", syscall.ECONNREFUSED)
	t.Run("until success", func(t *testing.T) {
		var r Retries
		calls := 0
		err := Retry(context.Background(), &r, func(context.Context) error {
			if calls++; calls < 3 {
				return refused
			}
			return nil
		})
		if n, last := r.Count(); err != nil || calls != 3 || n != 2 || last != refused.Error() {
			t.Errorf("err %v, calls %d, retried %d (last %q); want nil, 3, 2 (%q)", err, calls, n, last, refused)
		}
	})
	t.Run("stops at a permanent error", func(t *testing.T) {
		var r Retries
		invalid := apierrors.NewBadRequest("invalid")
		calls := 0
		err := Retry(context.Background(), &r, func(context.Context) error {
			if calls++; calls == 1 {
				return refused
			}
			return invalid
		})
		if n, _ := r.Count(); err != invalid || calls != 2 || n != 1 {
			t.Errorf("err %v, calls %d, retried %d; want %v, 2, 1", err, calls, n, invalid)
		}
	})
	t.Run("context ends: last real error", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		err := Retry(ctx, nil, func(context.Context) error { return refused })
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("err = %v, want the connection refused", err)
		}
	})
	t.Run("allowed errors", func(t *testing.T) {
		r := Retries{Allow: WebhookDenied}
		calls := 0
		err := Retry(context.Background(), &r, func(context.Context) error {
			if calls++; calls == 1 {
				return errors.New(`admission webhook "v" denied the request: still attached`)
			}
			return nil
		})
		if n, _ := r.Count(); err != nil || n != 1 {
			t.Errorf("err %v, retried %d; want nil, 1", err, n)
		}
	})
}

func TestPlanLabelValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"bi-scalability", "bi-scalability"},
		{"Backing image: 10 volumes", "Backing-image--10-volumes"},
		{"-x-", "x"},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
		{"ünï", "n"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := PlanLabelValue(tt.in); got != tt.want {
			t.Errorf("PlanLabelValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if id := NewRunID(time.Date(2026, 12, 1, 17, 18, 33, 0, time.UTC)); !regexp.MustCompile(`^20261201-171833-[0-9a-f]{6}$`).MatchString(id) {
		t.Errorf("NewRunID = %q", id)
	}
}
