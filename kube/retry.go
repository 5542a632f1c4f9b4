package kube

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Transient reports whether err is worth sending the same request again:
// the API server could not be reached or dropped the connection
// (connection refused or reset, EOF), asked the client to slow down (429),
// or failed on its side (5xx, including etcd being Unavailable behind it).
// A cancelled or expired context never is, nor is any answer about the
// request itself (NotFound, Conflict, Invalid, Forbidden, ...).
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		code := int(st.Status().Code)
		return code == http.StatusTooManyRequests || code >= 500 ||
			apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	msg := err.Error()
	for _, s := range transientMessages {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// transientMessages are failures client-go does not type: an HTTP/2
// connection torn down with the server, a gRPC Unavailable passed through.
var transientMessages = []string{
	"http2: client connection lost", "http2: server sent GOAWAY", "connection reset by peer",
	"connection refused", "code = Unavailable", "TLS handshake timeout", "i/o timeout",
}

// WebhookDenied reports whether err is an admission webhook refusing the
// request. Cleanup retries those for a while: a validating webhook may
// refuse to delete an object while its dependents still exist (Longhorn's
// volume validator refuses while the volume is attached,
// longhorn-manager webhook/resources/volume/validator.go), and deleting the
// dependents is what cleanup is doing at the same time.
func WebhookDenied(err error) bool {
	return err != nil && strings.Contains(err.Error(), "admission webhook") && strings.Contains(err.Error(), "denied the request")
}

// Retries counts the requests sent again after a transient error and keeps
// the last such error, for the result. It is safe for concurrent use; the
// zero value is ready.
type Retries struct {
	mu    sync.Mutex
	n     int
	last  string
	Log   func(err error, delay time.Duration) // optional, called before each retry
	Allow func(err error) bool                 // optional, more errors to retry
}

// Count returns how many requests were retried and the last error that
// made one be.
func (r *Retries) Count() (int, string) {
	if r == nil {
		return 0, ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.last
}

func (r *Retries) add(err error, delay time.Duration) {
	r.mu.Lock()
	r.n++
	r.last = err.Error()
	log := r.Log
	r.mu.Unlock()
	if log != nil {
		log(err, delay)
	}
}

// RetryBackoff is the backoff between retries of one request: 100 ms
// doubling up to 2 s, with jitter, for as long as the context lasts.
func RetryBackoff() wait.Backoff {
	return wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 1 << 30, Cap: 2 * time.Second}
}

// AllowedFor bounds how long one request is retried for an error that is
// not transient but r.Allow accepts (a webhook's refusal while dependents
// are still being deleted): a refusal that lasts longer is taken as final.
const AllowedFor = time.Minute

// Retry calls fn until it succeeds, fails with an error that is not
// Transient (nor allowed by r.Allow, for at most AllowedFor), or ctx ends,
// waiting with RetryBackoff in between. When ctx ends while retrying it
// returns the last real error, not the context's. r may be nil.
func Retry(ctx context.Context, r *Retries, fn func(context.Context) error) error {
	if r == nil {
		r = &Retries{}
	}
	b := RetryBackoff()
	start := time.Now()
	for {
		err := fn(ctx)
		allowed := r.Allow != nil && r.Allow(err) && time.Since(start) < AllowedFor
		if err == nil || ctx.Err() != nil || !(Transient(err) || allowed) {
			return err
		}
		d := b.Step()
		r.add(err, d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
