package kube

import (
	"context"
	"net/http"
	"sync/atomic"

	"k8s.io/client-go/util/flowcontrol"
)

// Fallback client limit, for a server without priority and fairness.
const (
	FallbackQPS   = 200
	FallbackBurst = 400
)

// flowControlGroup is the API group of API Priority and Fairness (GA in
// 1.29). A server that serves it queues and sheds load itself, per flow,
// and says so in the X-Kubernetes-PF-FlowSchema-UID and
// X-Kubernetes-PF-PriorityLevel-UID headers of its answers.
const flowControlGroup = "flowcontrol.apiserver.k8s.io"

// autoLimiter is the client's rate limiter when no --qps is given: a token
// bucket until the server shows it has priority and fairness (an answer
// carries its header, or Check finds its API group served), then none, so that the API server alone decides how fast runner goes (a
// client-side bucket of 200 QPS was the bottleneck of every large apply:
// docs/benchmarks.md). One limiter is shared by every client made from the
// config.
type autoLimiter struct {
	bucket flowcontrol.RateLimiter
	off    atomic.Bool
}

func newAutoLimiter(qps float32, burst int) *autoLimiter {
	return &autoLimiter{bucket: flowcontrol.NewTokenBucketRateLimiter(qps, burst)}
}

// TryAccept implements flowcontrol.RateLimiter.
func (l *autoLimiter) TryAccept() bool { return l.off.Load() || l.bucket.TryAccept() }

// Accept implements flowcontrol.RateLimiter.
func (l *autoLimiter) Accept() {
	if !l.off.Load() {
		l.bucket.Accept()
	}
}

// Stop implements flowcontrol.RateLimiter.
func (l *autoLimiter) Stop() { l.bucket.Stop() }

// QPS implements flowcontrol.RateLimiter: 0 once off.
func (l *autoLimiter) QPS() float32 {
	if l.off.Load() {
		return 0
	}
	return l.bucket.QPS()
}

// Wait implements flowcontrol.RateLimiter.
func (l *autoLimiter) Wait(ctx context.Context) error {
	if l.off.Load() {
		return ctx.Err()
	}
	return l.bucket.Wait(ctx)
}

// pfHeader is set by the API server's priority and fairness filter on the
// answers to the requests it classified.
const pfHeader = "X-Kubernetes-Pf-Flowschema-Uid"

// watchHeaders wraps the client's transport: the first answer that went
// through priority and fairness turns the limiter off.
func (l *autoLimiter) watchHeaders(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil && !l.off.Load() && resp.Header.Get(pfHeader) != "" {
			l.off.Store(true)
		}
		return resp, err
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
