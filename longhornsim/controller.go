package longhornsim

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/client-go/util/workqueue"
)

// syncFunc reconciles one key. A positive requeue asks for the key to be
// processed again after that delay; an error retries it with backoff.
type syncFunc func(ctx context.Context, key string) (requeue time.Duration, err error)

// errRetry marks an expected, quiet retry (for example a PVC waiting for its
// backing image): the key is retried with backoff and nothing is logged.
var errRetry = errors.New("retry later")

// controller is a work queue with workers that call sync for each key. With
// itemCost > 0 it has one worker that spends at least itemCost on every item,
// so the queue drains at a fixed rate (the legacy queue-jam model).
type controller struct {
	name     string
	queue    workqueue.TypedRateLimitingInterface[string]
	workers  int
	itemCost time.Duration
	sync     syncFunc
	log      zerolog.Logger
}

func newController(name string, workers int, itemCost time.Duration, log zerolog.Logger, sync syncFunc) *controller {
	if itemCost > 0 {
		workers = 1
	}
	return &controller{
		name: name,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name},
		),
		workers:  workers,
		itemCost: itemCost,
		sync:     sync,
		log:      log.With().Str("controller", name).Logger(),
	}
}

// add enqueues a key; duplicates of a key still waiting are dropped.
func (c *controller) add(key string) { c.queue.Add(key) }

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
	start := time.Now()
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
	if c.itemCost > 0 {
		if rest := c.itemCost - time.Since(start); rest > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(rest):
			}
		}
	}
	return true
}

// jamWait is the queue-jam model's expected wait for a key enqueued behind
// backlog other keys in a queue drained at one key per itemCost.
func jamWait(backlog int, itemCost time.Duration) time.Duration {
	if backlog < 0 {
		backlog = 0
	}
	return time.Duration(backlog+1) * itemCost
}
