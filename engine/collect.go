package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/redact"
	"github.com/scenario-runner/runner/result"
)

// LogReader is implemented by clusters that can read pod logs
// (kube.Client).
type LogReader interface {
	PodLogs(ctx context.Context, namespace, pod, container string, tail int64) ([]byte, error)
}

// collectTimeout bounds the gathering of diagnostics after a failure.
const collectTimeout = 30 * time.Second

// maxCollected bounds the objects written per selection.
const maxCollected = 200

// previewLines is how many last lines of each file the HTML report shows.
const previewLines = 15

var (
	eventsGVR = schema.GroupVersionResource{Version: "v1", Resource: "events"}
	podsGVR   = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// collector gathers evidence about a failed step into dir.
type collector struct {
	cl   Cluster
	dir  string // absolute folder of this plan's files
	rel  string // dir relative to the report folder
	step string
	out  []result.Diagnostic
	seen map[string]bool // what was collected already (a watched target also listed in resources)
	// redact is the run's set: what the files must mask.
	redact *redact.Set
}

// collect gathers what spec asks for about the failed step: events of the
// namespaces involved, the objects it watched, pod logs and resources.
// It never fails the run: what cannot be had is recorded with its error.
func (r *run) collect(ctx context.Context, p *Plan, o RunOptions, failed *Step, fr *result.Step, cl *cleaner) (out []result.Diagnostic) {
	if o.ReportDir == "" || o.DryRun {
		return nil
	}
	defer func() {
		if e := recover(); e != nil { // evidence is a bonus: never lose the cleanup for it
			out = append(out, result.Diagnostic{Step: fr.Name, What: "diagnostics", Error: fmt.Sprintf("internal error (panic): %v", e)})
		}
	}()
	spec := mergeCollect(p.Collect, failed.Collect)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), collectTimeout)
	defer cancel()
	// Per cell: two cells of one plan may fail at the same time.
	folder := p.Name
	if p.ID != "" {
		folder = p.ID
	}
	rel := filepath.Join("diagnostics", folder)
	c := &collector{cl: o.Cluster, dir: filepath.Join(o.ReportDir, rel), rel: rel, step: fr.Name, redact: r.redact}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return []result.Diagnostic{{Step: fr.Name, What: "diagnostics", Error: err.Error()}}
	}
	watched := r.watchedBy(fr)
	if on(spec.Objects) {
		for _, s := range watched {
			c.objects(ctx, s)
		}
	}
	for _, s := range spec.Resources {
		sel, err := r.selection(ctx, o.Cluster, s)
		if err != nil {
			c.fail("resources "+s.Kind+s.Resource, err)
			continue
		}
		c.objects(ctx, sel)
	}
	for _, pl := range spec.PodLogs {
		ns := pl.Namespace
		if ns == "" {
			ns = p.Defaults.Namespace
		}
		c.podLogs(ctx, ns, pl)
	}
	if on(spec.Events) {
		for _, ns := range involvedNamespaces(cl, watched, p.Defaults.Namespace) {
			c.events(ctx, ns)
		}
	}
	return c.out
}

func on(b *bool) bool { return b == nil || *b }

// mergeCollect adds a step's collect to the plan's.
func mergeCollect(plan, step *CollectSpec) CollectSpec {
	var out CollectSpec
	for _, s := range []*CollectSpec{plan, step} {
		if s == nil {
			continue
		}
		if s.Events != nil {
			out.Events = s.Events
		}
		if s.Objects != nil {
			out.Objects = s.Objects
		}
		out.PodLogs = append(out.PodLogs, s.PodLogs...)
		out.Resources = append(out.Resources, s.Resources...)
	}
	return out
}

// involvedNamespaces are the namespaces of the objects the plan recorded
// and the failed step watched, and the default one, sorted.
func involvedNamespaces(cl *cleaner, watched []kube.Selection, def string) []string {
	set := map[string]bool{def: true}
	cl.mu.Lock()
	for _, e := range cl.entries {
		if e.ref.Namespace != "" {
			set[e.ref.Namespace] = true
		}
	}
	cl.mu.Unlock()
	for _, w := range watched {
		if w.Namespace != "" {
			set[w.Namespace] = true
		}
	}
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

func (r *run) selection(ctx context.Context, cl Cluster, s SelectionSpec) (kube.Selection, error) {
	var m *metaMapping
	var err error
	if s.Resource != "" {
		m, err = mappingOf(cl.ResourceMapping(ctx, s.Resource))
	} else {
		gv, perr := schema.ParseGroupVersion(s.APIVersion)
		if perr != nil {
			return kube.Selection{}, perr
		}
		m, err = mappingOf(cl.Mapping(ctx, gv.WithKind(s.Kind)))
	}
	if err != nil {
		return kube.Selection{}, err
	}
	return kube.Selection{GVR: m.gvr, Kind: m.kind, Namespace: s.Namespace, Name: s.Name, LabelSelector: s.LabelSelector}, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// write puts data in a file named after what and records it.
func (c *collector) write(what string, data []byte) {
	name := fmt.Sprintf("%02d-%s", len(c.out)+1, strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(what), "-"), "-"))
	if len(name) > 100 {
		name = name[:100]
	}
	name += ".txt"
	// The run's secrets never reach a diagnostics file (a pod's log may
	// print them).
	data = []byte(c.redact.String(string(data)))
	if err := os.WriteFile(filepath.Join(c.dir, name), data, 0o644); err != nil {
		c.fail(what, err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > previewLines {
		lines = append([]string{fmt.Sprintf("… %d earlier lines in the file", len(lines)-previewLines)}, lines[len(lines)-previewLines:]...)
	}
	c.out = append(c.out, result.Diagnostic{Step: c.step, What: what, File: filepath.ToSlash(filepath.Join(c.rel, name)), Preview: lines})
}

func (c *collector) fail(what string, err error) {
	c.out = append(c.out, result.Diagnostic{Step: c.step, What: what, Error: err.Error()})
}

// objects writes the objects of s as YAML, Secret values redacted.
func (c *collector) objects(ctx context.Context, s kube.Selection) {
	what := s.String()
	if c.seen[what] {
		return
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	c.seen[what] = true
	var items []unstructured.Unstructured
	ri := c.cl.Dynamic().Resource(s.GVR).Namespace(s.Namespace)
	if s.Name != "" {
		obj, err := ri.Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			c.fail(what, err)
			return
		}
		items = []unstructured.Unstructured{*obj}
	} else {
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: s.LabelSelector, FieldSelector: s.FieldSelector, Limit: maxCollected})
		if err != nil {
			c.fail(what, err)
			return
		}
		items = list.Items
	}
	var b strings.Builder
	for i := range items {
		obj := items[i].DeepCopy()
		obj.SetManagedFields(nil)
		Redact(obj)
		y, err := yaml.Marshal(obj.Object)
		if err != nil {
			c.fail(what, err)
			return
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	if len(items) == 0 {
		b.WriteString("# no objects\n")
	}
	c.write(what, []byte(b.String()))
}

// Redact replaces the values of a Secret's data and stringData (and the
// last-applied annotation, which holds them too) with <redacted>.
func Redact(obj *unstructured.Unstructured) {
	if obj.GetKind() != "Secret" {
		return
	}
	for _, key := range []string{"data", "stringData"} {
		if m, ok := obj.Object[key].(map[string]any); ok {
			for k := range m {
				m[k] = "<redacted>"
			}
		}
	}
	if a := obj.GetAnnotations(); a != nil {
		if _, ok := a["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			a["kubectl.kubernetes.io/last-applied-configuration"] = "<redacted>"
			obj.SetAnnotations(a)
		}
	}
}

// events writes a namespace's events, oldest first, one per line.
func (c *collector) events(ctx context.Context, ns string) {
	what := "events in " + ns
	list, err := c.cl.Dynamic().Resource(eventsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.fail(what, err)
		return
	}
	type line struct {
		t    string
		text string
	}
	var lines []line
	for _, e := range list.Items {
		t, _, _ := unstructured.NestedString(e.Object, "lastTimestamp")
		if t == "" {
			t, _, _ = unstructured.NestedString(e.Object, "eventTime")
		}
		typ, _, _ := unstructured.NestedString(e.Object, "type")
		reason, _, _ := unstructured.NestedString(e.Object, "reason")
		kind, _, _ := unstructured.NestedString(e.Object, "involvedObject", "kind")
		name, _, _ := unstructured.NestedString(e.Object, "involvedObject", "name")
		msg, _, _ := unstructured.NestedString(e.Object, "message")
		lines = append(lines, line{t, fmt.Sprintf("%s %s %s %s/%s: %s", t, typ, reason, kind, name, msg)})
	}
	slices.SortStableFunc(lines, func(a, b line) int { return strings.Compare(a.t, b.t) })
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text + "\n")
	}
	if len(lines) == 0 {
		b.WriteString("# no events\n")
	}
	c.write(what, []byte(b.String()))
}

// podLogs writes the logs of the pods pl selects.
func (c *collector) podLogs(ctx context.Context, ns string, pl PodLogsSpec) {
	lr, ok := c.cl.(LogReader)
	what := "logs of pods " + pl.LabelSelector + " in " + ns
	if !ok {
		c.fail(what, fmt.Errorf("this cluster client cannot read logs"))
		return
	}
	list, err := c.cl.Dynamic().Resource(podsGVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: pl.LabelSelector, Limit: maxCollected})
	if err != nil {
		c.fail(what, err)
		return
	}
	tail := int64(pl.Tail)
	if tail <= 0 {
		tail = 200
	}
	for _, pod := range list.Items {
		containers, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
		for _, ct := range containers {
			name, _, _ := unstructured.NestedString(ct.(map[string]any), "name")
			if pl.Container != "" && name != pl.Container {
				continue
			}
			w := "log of " + ns + "/" + pod.GetName() + "/" + name
			data, err := lr.PodLogs(ctx, ns, pod.GetName(), name, tail)
			if err != nil {
				c.fail(w, err)
				continue
			}
			c.write(w, data)
		}
	}
	if len(list.Items) == 0 {
		c.fail(what, fmt.Errorf("no pod matches"))
	}
}

type metaMapping struct {
	gvr  schema.GroupVersionResource
	kind string
}

func mappingOf(m *meta.RESTMapping, err error) (*metaMapping, error) {
	if err != nil {
		return nil, err
	}
	return &metaMapping{gvr: m.Resource, kind: m.GroupVersionKind.Kind}, nil
}
