package longhornsim

import (
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Meter reads what the simulator models but no Longhorn object shows, so
// that a test can wait for a modelled state (the legacy queue jam being
// established) instead of for time. Create one, pass it in Options.Meter;
// Run connects it to the simulator it starts. A Meter serves one simulator
// at a time and is safe for concurrent use.
type Meter struct {
	replicaBucket atomic.Pointer[rate.Limiter]
}

// ReplicaQueueWait is how long a replica enqueued now would wait for the
// legacy-queue-jam replica queue's token bucket (longhornLimiter): the
// tokens already reserved ahead of now, divided by the bucket's rate, in
// wall-clock time (SpeedFactor applied). Every replica that a new volume
// creates, and every replica of a deleted volume, waits at least that long
// before the replica controller looks at it. Zero in default mode (whose
// replica queue is not rate-limited), before Run connects the meter, and
// while the bucket has tokens to spare.
func (m *Meter) ReplicaQueueWait() time.Duration {
	if m == nil {
		return 0
	}
	bucket := m.replicaBucket.Load()
	if bucket == nil {
		return 0
	}
	return bucketWait(bucket)
}
