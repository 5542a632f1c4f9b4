package longhornsim

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Longhorn's work queue metrics (metrics_collector/workqueue/metrics.go,
// since longhorn-manager 1.3): longhorn_workqueue_* with one label, name,
// the queue's name as newBaseController gives it.

// longhornQueueNames maps the simulator's controllers to the names of the
// longhorn-manager queues they stand for. The CSI controllers stand for
// Longhorn's CSI sidecars, whose queues longhorn-manager does not export.
var longhornQueueNames = map[string]string{
	"volume":       "longhorn-volume",
	"replica":      "longhorn-replica",
	"engine":       "longhorn-engine",
	"node":         "longhorn-node",
	"backingimage": "longhorn-backing-image",
}

// queueBuckets are Longhorn's (and client-go's) work queue buckets: 10 ns
// to 1 s by powers of ten, 10 s, then +Inf.
var queueBuckets = prometheus.ExponentialBuckets(10e-9, 10, 10)

// queueMetrics are the work queue metrics of the simulator's queues.
type queueMetrics struct {
	adds, retries               *prometheus.CounterVec
	queueDuration, workDuration *prometheus.HistogramVec
	depth, unfinished, longest  *prometheus.Desc
	queues                      []*meteredQueue
}

func newQueueMetrics() *queueMetrics {
	l := []string{"name"}
	return &queueMetrics{
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "longhorn_workqueue_adds_total",
			Help: "Total number of adds handled by workqueue"}, l),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "longhorn_workqueue_retries_total",
			Help: "Total number of retries handled by workqueue"}, l),
		queueDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "longhorn_workqueue_queue_duration_seconds",
			Help: "How long in seconds an item stays in workqueue before being requested", Buckets: queueBuckets}, l),
		workDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "longhorn_workqueue_work_duration_seconds",
			Help: "How long in seconds processing an item from workqueue takes", Buckets: queueBuckets}, l),
		depth: prometheus.NewDesc("longhorn_workqueue_depth", "Current depth of workqueue", l, nil),
		unfinished: prometheus.NewDesc("longhorn_workqueue_unfinished_work_seconds",
			"How many seconds of work has been done that is in progress and hasn't been observed by work_duration", l, nil),
		longest: prometheus.NewDesc("longhorn_workqueue_longest_running_processor_seconds",
			"How many seconds has the longest running processor for workqueue been running", l, nil),
	}
}

// instrument wraps the queue of every controller that stands for a
// longhorn-manager queue. It must run before anything is enqueued.
func (m *queueMetrics) instrument(ctls []*controller) {
	for _, c := range ctls {
		name, ok := longhornQueueNames[c.name]
		if !ok {
			continue
		}
		q := &meteredQueue{TypedRateLimitingInterface: c.queue, name: name, m: m,
			added: map[string]time.Time{}, processing: map[string]time.Time{}}
		c.queue = q
		m.queues = append(m.queues, q)
		// The series exist from the start, at zero, as client-go's do.
		m.adds.WithLabelValues(name)
		m.retries.WithLabelValues(name)
		m.queueDuration.WithLabelValues(name)
		m.workDuration.WithLabelValues(name)
	}
}

// Describe implements prometheus.Collector (unchecked: the series are
// described by collecting them).
func (m *queueMetrics) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (m *queueMetrics) Collect(ch chan<- prometheus.Metric) {
	m.adds.Collect(ch)
	m.retries.Collect(ch)
	m.queueDuration.Collect(ch)
	m.workDuration.Collect(ch)
	now := time.Now()
	for _, q := range m.queues {
		unfinished, longest := q.running(now)
		ch <- prometheus.MustNewConstMetric(m.depth, prometheus.GaugeValue, float64(q.Len()), q.name)
		ch <- prometheus.MustNewConstMetric(m.unfinished, prometheus.GaugeValue, unfinished, q.name)
		ch <- prometheus.MustNewConstMetric(m.longest, prometheus.GaugeValue, longest, q.name)
	}
}

// meteredQueue counts what goes through a controller's queue, as
// client-go's queue metrics do, from outside it: retries are the
// AddRateLimited and AddAfter calls (exactly client-go's count, and where
// the legacy jam shows: items waiting in the limiter's delay are not in
// depth); adds count every Add, AddAfter and AddRateLimited call, a key
// already waiting included (client-go counts only those it inserts);
// queue time is measured from an Add (or an AddAfter's due time) to the
// Get, not for rate-limited adds, whose delay the limiter alone knows.
type meteredQueue struct {
	workqueue.TypedRateLimitingInterface[string]
	name string
	m    *queueMetrics

	mu         sync.Mutex
	added      map[string]time.Time
	processing map[string]time.Time
}

func (q *meteredQueue) markAdded(key string, at time.Time) {
	q.mu.Lock()
	if _, ok := q.added[key]; !ok {
		q.added[key] = at
	}
	q.mu.Unlock()
}

// Add implements workqueue.TypedInterface.
func (q *meteredQueue) Add(key string) {
	q.m.adds.WithLabelValues(q.name).Inc()
	q.markAdded(key, time.Now())
	q.TypedRateLimitingInterface.Add(key)
}

// AddAfter implements workqueue.TypedDelayingInterface.
func (q *meteredQueue) AddAfter(key string, d time.Duration) {
	q.m.adds.WithLabelValues(q.name).Inc()
	q.m.retries.WithLabelValues(q.name).Inc()
	q.markAdded(key, time.Now().Add(max(d, 0)))
	q.TypedRateLimitingInterface.AddAfter(key, d)
}

// AddRateLimited implements workqueue.TypedRateLimitingInterface.
func (q *meteredQueue) AddRateLimited(key string) {
	q.m.adds.WithLabelValues(q.name).Inc()
	q.m.retries.WithLabelValues(q.name).Inc()
	q.TypedRateLimitingInterface.AddRateLimited(key)
}

// Get implements workqueue.TypedInterface.
func (q *meteredQueue) Get() (string, bool) {
	key, shutdown := q.TypedRateLimitingInterface.Get()
	if shutdown {
		return key, shutdown
	}
	now := time.Now()
	q.mu.Lock()
	at, ok := q.added[key]
	delete(q.added, key)
	q.processing[key] = now
	q.mu.Unlock()
	if ok && !now.Before(at) {
		q.m.queueDuration.WithLabelValues(q.name).Observe(now.Sub(at).Seconds())
	}
	return key, shutdown
}

// Done implements workqueue.TypedInterface.
func (q *meteredQueue) Done(key string) {
	q.mu.Lock()
	start, ok := q.processing[key]
	delete(q.processing, key)
	q.mu.Unlock()
	if ok {
		q.m.workDuration.WithLabelValues(q.name).Observe(time.Since(start).Seconds())
	}
	q.TypedRateLimitingInterface.Done(key)
}

// running returns the seconds of work in progress and the longest of them.
func (q *meteredQueue) running(now time.Time) (total, longest float64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, start := range q.processing {
		d := now.Sub(start).Seconds()
		total += d
		longest = max(longest, d)
	}
	return total, longest
}
