package longhornsim

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"
)

// syncFunc reconciles one key. A positive requeue asks for the key to be
// processed again after that delay; an error retries it with backoff.
type syncFunc func(ctx context.Context, key string) (requeue time.Duration, err error)

// errRetry marks an expected, quiet retry (for example a PVC waiting for its
// backing image): the key is retried with backoff and nothing is logged.
var errRetry = errors.New("retry later")

// controller is a work queue with workers that call sync for each key.
//
// A rate-limited controller (the legacy queue-jam model) enqueues every key
// with AddRateLimited, as longhorn-manager 1.2's enqueueReplica did, through
// Longhorn's EnhancedDefaultControllerRateLimiter; see longhornLimiter.
type controller struct {
	name        string
	queue       workqueue.TypedRateLimitingInterface[string]
	workers     int
	rateLimited bool
	sync        syncFunc
	log         zerolog.Logger
}

func newController(name string, workers int, log zerolog.Logger, sync syncFunc) *controller {
	return newControllerWithLimiter(name, workers, false,
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 10*time.Second), log, sync)
}

func newControllerWithLimiter(name string, workers int, rateLimited bool, limiter workqueue.TypedRateLimiter[string], log zerolog.Logger, sync syncFunc) *controller {
	return &controller{
		name:        name,
		queue:       workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		workers:     workers,
		rateLimited: rateLimited,
		sync:        sync,
		log:         log.With().Str("controller", name).Logger(),
	}
}

// longhornLimiter is longhorn-manager's EnhancedDefaultControllerRateLimiter
// (controller/controller_manager.go in 1.2, base_controller.go today): the
// larger of a per-key exponential backoff (5 ms doubling up to 1000 s, reset
// by Forget) and one token bucket shared by all keys (100 per second, burst
// 1000). The bucket hands out a reservation for every call, duplicates of a
// waiting key included, so when calls outpace 100 a second the wait of every
// new call grows. speed divides the durations and multiplies the rate. The
// bucket is returned too, for Meter.
func longhornLimiter(speed float64) (workqueue.TypedRateLimiter[string], *rate.Limiter) {
	bucket := rate.NewLimiter(rate.Limit(100*speed), 1000)
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](
			time.Duration(float64(5*time.Millisecond)/speed), time.Duration(float64(1000*time.Second)/speed)),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: bucket},
	), bucket
}

// bucketWait is how long a call made now waits for bucket: the tokens
// reserved ahead of now over the bucket's rate; zero while it has tokens.
func bucketWait(bucket *rate.Limiter) time.Duration {
	tokens := bucket.Tokens()
	if tokens >= 0 {
		return 0
	}
	return time.Duration(-tokens / float64(bucket.Limit()) * float64(time.Second))
}

// add enqueues a key; duplicates of a key still waiting are dropped. A
// rate-limited controller delays the key by its limiter first.
func (c *controller) add(key string) {
	if c.rateLimited {
		c.queue.AddRateLimited(key)
		return
	}
	c.queue.Add(key)
}

// run processes keys until ctx ends, then shuts the queue down and waits
// for the workers.
func (c *controller) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := 0; i < c.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
}

func (c *controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	requeue, err := c.sync(ctx, key)
	switch {
	case err != nil:
		if !errors.Is(err, errRetry) && ctx.Err() == nil {
			c.log.Debug().Err(err).Str("key", key).Msg("sync failed, retrying")
		}
		c.queue.AddRateLimited(key)
	case requeue > 0:
		c.queue.Forget(key)
		c.queue.AddAfter(key, requeue)
	default:
		c.queue.Forget(key)
	}
	c.queue.Done(key)
	return true
}
