package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Cluster is what the pods source needs of a cluster: a dynamic client to
// list the pods, and a GET through the API server's pod proxy
// (/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH, RBAC: get on
// pods/proxy). kube.Client implements it.
type Cluster interface {
	Dynamic() dynamic.Interface
	ProxyGet(ctx context.Context, namespace, pod, port, path string) ([]byte, error)
}

// PodTarget selects the pods to scrape and where they serve.
type PodTarget struct {
	Namespace     string
	LabelSelector string
	// Port is a container port number or name; empty takes the pod's first
	// declared container port (as the API server's proxy does).
	Port string
	// Path defaults to /metrics.
	Path string
}

func (t PodTarget) String() string {
	s := "pods in " + t.Namespace
	if t.LabelSelector != "" {
		s += " with labels " + t.LabelSelector
	}
	return s
}

// maxScrapes bounds the pods scraped at once.
const maxScrapes = 8

// PodSource scrapes every pod a target selects (each Longhorn manager
// reports only what its node owns) through the pod proxy, adds the label
// pod (unless a series has one) and evaluates queries over the scrapes. A
// PodSource keeps scrapes for range functions; it is not safe for
// concurrent Reads.
type PodSource struct {
	cluster Cluster
	target  PodTarget
	keep    time.Duration
	hist    History
}

// NewPodSource returns a source that scrapes target through c's pod proxy;
// queries must be Local.
func NewPodSource(c Cluster, target PodTarget) *PodSource {
	if target.Path == "" {
		target.Path = "/metrics"
	}
	return &PodSource{cluster: c, target: target}
}

func (s *PodSource) String() string { return s.target.String() }

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// Read scrapes every running pod of the target once and evaluates queries.
// A pod that cannot be scraped is a note; the read fails only when no pod
// could be read (none selected, the list refused, every scrape refused).
func (s *PodSource) Read(ctx context.Context, queries []*Query) (Reading, error) {
	for _, q := range queries {
		if err := q.Local(); err != nil {
			return Reading{}, fmt.Errorf("query %s: %w", q.Source, err)
		}
		s.keep = max(s.keep, q.Window())
	}
	v, r, err := s.Scrape(ctx)
	if err != nil {
		return r, err
	}
	s.hist.Add(r.At, v, s.keep)
	for _, q := range queries {
		out, err := q.Eval(&s.hist)
		if err != nil {
			return r, fmt.Errorf("query %s: %w", q.Source, err)
		}
		r.Vectors = append(r.Vectors, out)
	}
	return r, nil
}

// Scrape reads every running pod of the target once and returns their
// series together.
func (s *PodSource) Scrape(ctx context.Context) (model.Vector, Reading, error) {
	r := Reading{At: time.Now()}
	list, err := s.cluster.Dynamic().Resource(podsGVR).Namespace(s.target.Namespace).List(ctx, metav1.ListOptions{LabelSelector: s.target.LabelSelector})
	if err != nil {
		return nil, r, fmt.Errorf("list %s: %w", s.target, err)
	}
	var pods []corev1.Pod
	for _, u := range list.Items {
		var p corev1.Pod
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &p); err != nil {
			return nil, r, fmt.Errorf("decode pod %s: %w", u.GetName(), err)
		}
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			r.Notes = append(r.Notes, fmt.Sprintf("pod %s: not running (phase %s), not scraped", p.Name, p.Status.Phase))
			continue
		}
		pods = append(pods, p)
	}
	if len(pods) == 0 {
		return nil, r, fmt.Errorf("no running pod among %d %s", len(list.Items), s.target)
	}
	r.Targets = len(pods)
	type scraped struct {
		v   model.Vector
		err error
	}
	results := make([]scraped, len(pods))
	sem := make(chan struct{}, maxScrapes)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v, err := s.scrapePod(ctx, &pods[i], r.At)
			results[i] = scraped{v, err}
		}()
	}
	wg.Wait()
	var all model.Vector
	var errs []error
	for _, res := range results {
		if res.err != nil {
			errs = append(errs, res.err)
			r.Notes = append(r.Notes, res.err.Error())
			continue
		}
		all = append(all, res.v...)
	}
	if len(errs) == len(pods) {
		return nil, r, fmt.Errorf("no pod could be scraped: %w", errors.Join(errs...))
	}
	sort.Strings(r.Notes)
	return all, r, nil
}

func (s *PodSource) scrapePod(ctx context.Context, p *corev1.Pod, at time.Time) (model.Vector, error) {
	port, err := podPort(p, s.target.Port)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", p.Name, err)
	}
	body, err := s.cluster.ProxyGet(ctx, p.Namespace, p.Name, port, s.target.Path)
	if err != nil {
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("pod %s: forbidden (needs get on pods/proxy in %s): %w", p.Name, p.Namespace, err)
		}
		return nil, fmt.Errorf("pod %s: GET %s through the pod proxy: %w", p.Name, s.target.Path, err)
	}
	v, err := Parse(bytes.NewReader(body), at)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", p.Name, err)
	}
	for _, smp := range v {
		if _, ok := smp.Metric["pod"]; !ok {
			smp.Metric["pod"] = model.LabelValue(p.Name)
		}
	}
	return v, nil
}

// podPort resolves port (a number, a container port's name, or empty for
// the pod's first declared port) to a number.
func podPort(p *corev1.Pod, port string) (string, error) {
	if _, err := strconv.Atoi(port); err == nil {
		return port, nil
	}
	var names []string
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if port == "" || cp.Name == port {
				return strconv.Itoa(int(cp.ContainerPort)), nil
			}
			if cp.Name != "" {
				names = append(names, cp.Name)
			}
		}
	}
	if port == "" {
		return "", errors.New("declares no container port: give the port")
	}
	return "", fmt.Errorf("has no container port named %q (it has: %s)", port, strings.Join(names, ", "))
}
