package job

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Changes signals, until ctx ends, whenever the Job namespace/name, one of
// its pods or one of its results ConfigMaps changes, so that a follower
// reads the job again (Read) when something happened rather than on a
// clock. Signals coalesce: the channel holds at most one. It also signals
// each time a watch is (re)opened, since a change may have slipped in
// before it, and re-opens watches the server closes (timeouts, an expired
// resource version). Its goroutines end with ctx.
func Changes(ctx context.Context, dyn dynamic.Interface, namespace, name string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	notify := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	watch := func(gvr schema.GroupVersionResource, opts metav1.ListOptions) {
		for ctx.Err() == nil {
			// Start from now: a list of one object gives the resource
			// version to watch from, without replaying every object.
			lo := opts
			lo.Limit = 1
			l, err := dyn.Resource(gvr).Namespace(namespace).List(ctx, lo)
			if err == nil {
				wo := opts
				wo.ResourceVersion = l.GetResourceVersion()
				w, werr := dyn.Resource(gvr).Namespace(namespace).Watch(ctx, wo)
				if werr == nil {
					notify()
					// Stopping closes the result channel, on every client.
					stop := context.AfterFunc(ctx, w.Stop)
					for range w.ResultChan() {
						notify()
					}
					stop()
					w.Stop()
					continue
				}
			}
			// The API server is unreachable or refuses: try again soon;
			// the follower's own reads say what is wrong.
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}
	go watch(jobs, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	go watch(pods, metav1.ListOptions{LabelSelector: LabelJobName + "=" + name})
	go watch(configMaps, metav1.ListOptions{LabelSelector: LabelJob + "=" + name + "," + LabelIndex})
	return ch
}
