// Package kube connects to a cluster for the engine and the step kinds:
// client-go's kubeconfig loading rules, a dynamic client, and a cached,
// discovery-backed REST mapper that learns kinds created during a run. It
// also holds the few list+watch helpers that more than one step needs.
//
// It holds no global state; every function takes its client and a context.
package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// Options says how to reach the cluster.
type Options struct {
	Kubeconfig string // empty: KUBECONFIG, ~/.kube/config, then in-cluster
	Context    string
	// QPS and Burst bound the client's requests. QPS 0 (the default)
	// means no client-side limit when the server has API Priority and
	// Fairness (Check finds flowcontrol.apiserver.k8s.io served), which then
	// throttles, and FallbackQPS with Burst (0: FallbackBurst) otherwise.
	// A positive QPS is a fixed limit; a negative one removes the limit.
	QPS   float32
	Burst int
}

// ErrUnreachable marks failures to reach or authenticate to the cluster.
var ErrUnreachable = errors.New("cluster unreachable")

// Client is a connection to one cluster. It implements engine.Cluster.
type Client struct {
	Config  *rest.Config
	Context string // the kubeconfig context in use, if any
	dyn     dynamic.Interface
	// disc caches discovery in memory: the groups Check reads are the ones
	// the mapper then uses, one discovery per run rather than two.
	disc   discovery.CachedDiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper

	mu        sync.Mutex
	lastReset time.Time
	rest      *rest.RESTClient // for Apply, made on first use
}

// Load builds a rest.Config with client-go's loading rules.
func Load(o Options) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, "", fmt.Errorf("%w: no kubeconfig found (looked at --kubeconfig, $KUBECONFIG, ~/.kube/config and the in-cluster service account)", ErrUnreachable)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: loading kubeconfig: %v", ErrUnreachable, err)
	}
	ctxName := o.Context
	if raw, err := cc.RawConfig(); err == nil && ctxName == "" {
		ctxName = raw.CurrentContext
	}
	if o.Burst > 0 {
		cfg.Burst = o.Burst
	}
	switch {
	case o.QPS < 0:
		cfg.QPS = -1 // client-go makes no rate limiter
	case o.QPS > 0:
		cfg.QPS = o.QPS
	default:
		burst := o.Burst
		if burst <= 0 {
			burst = FallbackBurst
		}
		cfg.Burst = burst
		l := newAutoLimiter(FallbackQPS, burst)
		cfg.RateLimiter = l
		cfg.Wrap(l.watchHeaders)
	}
	return cfg, ctxName, nil
}

// New connects to the cluster named by o.
func New(o Options) (*Client, error) {
	cfg, ctxName, err := Load(o)
	if err != nil {
		return nil, err
	}
	c, err := NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c.Context = ctxName
	return c, nil
}

// NewForConfig builds a Client from a rest.Config.
func NewForConfig(cfg *rest.Config) (*Client, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	cached := memory.NewMemCacheClient(disc)
	return &Client{
		Config: cfg, dyn: dyn, disc: cached,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached),
	}, nil
}

// ClientLimit says how the client limits its requests, for the log: "none
// (the API server has priority and fairness)", "200 QPS, burst 400".
func (c *Client) ClientLimit() string {
	switch l := c.Config.RateLimiter.(type) {
	case *autoLimiter:
		if l.off.Load() {
			return "none (the API server has priority and fairness)"
		}
		return fmt.Sprintf("%g QPS, burst %d (the API server has no priority and fairness)", l.QPS(), c.Config.Burst)
	case nil:
		if c.Config.QPS < 0 {
			return "none"
		}
		return fmt.Sprintf("%g QPS, burst %d", c.Config.QPS, c.Config.Burst)
	}
	return "custom"
}

// Dynamic returns the dynamic client.
func (c *Client) Dynamic() dynamic.Interface { return c.dyn }

// Check asks the server for its version. Failures wrap ErrUnreachable and
// name the server and context, since they are the user's first question.
func (c *Client) Check(ctx context.Context) (string, error) {
	type result struct {
		v   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := c.disc.ServerVersion()
		if err != nil {
			ch <- result{err: err}
			return
		}
		// /version is open to anyone; ask for something that needs
		// credentials. The answer fills the mapper's cache.
		groups, err := c.disc.ServerGroups()
		if err != nil {
			ch <- result{err: err}
			return
		}
		if l, ok := c.Config.RateLimiter.(*autoLimiter); ok {
			for _, g := range groups.Groups {
				if g.Name == flowControlGroup {
					l.off.Store(true)
				}
			}
		}
		ch <- result{v: v.GitVersion}
	}()
	where := fmt.Sprintf("server %s", c.Config.Host)
	if c.Context != "" {
		where += fmt.Sprintf(" (context %q)", c.Context)
	}
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %s: %v", ErrUnreachable, where, ctx.Err())
	case r := <-ch:
		if r.err != nil {
			var se apierrors.APIStatus
			if errors.As(r.err, &se) {
				switch se.Status().Code {
				case http.StatusUnauthorized:
					return "", fmt.Errorf("%w: %s: unauthorized (401): check the credentials of the kubeconfig", ErrUnreachable, where)
				case http.StatusForbidden:
					return "", fmt.Errorf("%w: %s: forbidden (403): %v", ErrUnreachable, where, r.err)
				}
			}
			return "", fmt.Errorf("%w: %s: %v", ErrUnreachable, where, r.err)
		}
		return r.v, nil
	}
}

// KindWait bounds how long an unknown kind is waited for: long enough for a
// CRD created by an earlier step to be served, short enough that a typo fails fast.
const KindWait = 30 * time.Second

// resetEvery bounds how often an unknown kind triggers a new discovery.
const resetEvery = 500 * time.Millisecond

func (c *Client) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.lastReset) < resetEvery {
		return
	}
	c.lastReset = time.Now()
	c.mapper.Reset()
}

// Mapping implements engine.Cluster. An unknown kind makes it refresh
// discovery and try again until ctx ends: a CRD created by an earlier step
// takes a moment to be served.
func (c *Client) Mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	return retryNoMatch(ctx, c, func() (*meta.RESTMapping, error) {
		return c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}, func() string {
		return fmt.Sprintf("kind %s of %s is not served by the cluster", gvk.Kind, gvk.GroupVersion())
	})
}

// ResourceMapping implements engine.Cluster.
func (c *Client) ResourceMapping(ctx context.Context, resource string) (*meta.RESTMapping, error) {
	return retryNoMatch(ctx, c, func() (*meta.RESTMapping, error) {
		return ResourceMapping(c.mapper, resource)
	}, func() string { return fmt.Sprintf("resource %q is not served by the cluster", resource) })
}

// ResourceMapping resolves "pods", "backingimages.longhorn.io" or
// "deployments.v1.apps" with mapper.
func ResourceMapping(mapper meta.RESTMapper, resource string) (*meta.RESTMapping, error) {
	var gvr schema.GroupVersionResource
	if full, gr := schema.ParseResourceArg(strings.ToLower(resource)); full != nil {
		if _, err := mapper.KindFor(*full); err == nil {
			gvr = *full
		} else {
			gvr = gr.WithVersion("")
		}
	} else {
		gvr = gr.WithVersion("")
	}
	gvk, err := mapper.KindFor(gvr)
	if err != nil {
		return nil, err
	}
	return mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

func retryNoMatch(ctx context.Context, c *Client, try func() (*meta.RESTMapping, error), what func() string) (*meta.RESTMapping, error) {
	delay := 100 * time.Millisecond
	giveUp := time.Now().Add(KindWait)
	for {
		m, err := try()
		if err == nil {
			return m, nil
		}
		if !meta.IsNoMatchError(err) && !isDiscoveryGap(err) {
			return nil, err
		}
		if time.Now().After(giveUp) {
			return nil, fmt.Errorf("%s (waited %s for it to appear)", what(), KindWait)
		}
		c.reset()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s", what())
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func isDiscoveryGap(err error) bool {
	var gd *discovery.ErrGroupDiscoveryFailed
	return errors.As(err, &gd)
}

// RESTMapper is the client's discovery-backed mapper. Unlike Mapping it
// does not wait for kinds the cluster does not serve yet.
func (c *Client) RESTMapper() meta.RESTMapper { return c.mapper }
