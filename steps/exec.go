package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// ExecSpec is the YAML shape of an exec step: a command in a container of
// one pod (or of every pod a selector matches, with all), e.g. a checksum
// read back after a failover.
type ExecSpec struct {
	Namespace      engine.Text            `yaml:"namespace" doc:"Namespace of the pods (default: defaults.namespace)."`
	Name           engine.Text            `yaml:"name" doc:"One pod by name."`
	LabelSelector  engine.Text            `yaml:"labelSelector" doc:"Pods by label selector, e.g. app=web."`
	FieldSelector  engine.Text            `yaml:"fieldSelector" doc:"Pods by field selector, e.g. spec.nodeName=node-1."`
	All            engine.Flag            `yaml:"all" doc:"Run the command in every matching pod; without it the target must match exactly one pod."`
	Container      engine.Text            `yaml:"container" doc:"The container (default: the pod's first)."`
	Command        []engine.Text          `yaml:"command" required:"true" doc:"The argv, e.g. [md5sum, /data/file]; no shell unless it says [sh, -c, ...]. Each element may hold ${{ }}."`
	Stdin          engine.Text            `yaml:"stdin" doc:"Text given to the command's standard input, which is then closed (default: no standard input)."`
	ExpectExitCode engine.IntOrExpr       `yaml:"expectExitCode" doc:"The exit code every pod's command must end with (default 0); any other fails the step."`
	ForEach        engine.Expr            `yaml:"forEach" doc:"An expression yielding a list; the target and command are resolved once per element."`
	As             string                 `yaml:"as" doc:"Name of the forEach element in expressions (default item)."`
	Outputs        map[string]engine.Expr `yaml:"outputs" doc:"Names bound for later steps, from expressions over results: one entry per pod, {pod, namespace, node, container, stdout, stderr, exitCode}."`
}

// execBinds are the names an exec step's outputs see besides vars.
var execBinds = []string{"results"}

// Describe implements engine.Describer.
func (s *ExecSpec) Describe() string {
	var argv []string
	for _, a := range s.Command {
		argv = append(argv, a.Value)
	}
	who := s.Name.Value
	switch {
	case who != "":
	case s.LabelSelector.IsSet():
		who = s.LabelSelector.Value
	default:
		who = s.FieldSelector.Value
	}
	return "exec " + who + ": " + shorten(strings.Join(argv, " "), 60)
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// podExecer runs a command in a container (kube.Client implements it).
type podExecer interface {
	Exec(ctx context.Context, r kube.ExecRequest) (int, error)
}

type execAction struct {
	namespace, name, labels, fields, container, stdin *eval.Template
	defaultNS                                         string
	all                                               bool
	command                                           []*eval.Template
	expect                                            engine.IntValue
	forEach                                           forEach
	outputs                                           outputs
}

// maxExecOutput bounds what one command's stdout or stderr may hold: a plan
// reads checksums and short text, not data.
const maxExecOutput = 4 << 20

// Build implements engine.Spec.
func (s *ExecSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &execAction{all: s.All.On(), defaultNS: b.Defaults.Namespace}
	var scope *eval.Scope
	a.forEach, scope = buildForEach(b, s.ForEach, s.As)
	if !s.Name.IsSet() && !s.LabelSelector.IsSet() && !s.FieldSelector.IsSet() {
		b.Errorf(b.Here(), "exec needs name, labelSelector or fieldSelector (pods are implied)")
	}
	if s.Name.IsSet() && (s.LabelSelector.IsSet() || s.FieldSelector.IsSet()) {
		b.Errorf(s.Name.Pos, "give either name or selectors, not both")
	}
	if s.LabelSelector.IsSet() && !eval.HasTemplate(s.LabelSelector.Value) {
		if _, err := labels.Parse(s.LabelSelector.Value); err != nil {
			b.Errorf(s.LabelSelector.Pos, "invalid label selector %q: %v", s.LabelSelector.Value, err)
		}
	}
	if len(s.Command) == 0 {
		b.Errorf(b.Here(), "exec needs a command: the argv as a list, e.g. [md5sum, /data/file]")
	}
	a.namespace, a.name = b.Template(s.Namespace, scope), b.Template(s.Name, scope)
	a.labels, a.fields = b.Template(s.LabelSelector, scope), b.Template(s.FieldSelector, scope)
	a.container, a.stdin = b.Template(s.Container, scope), b.Template(s.Stdin, scope)
	for _, c := range s.Command {
		a.command = append(a.command, b.Template(c, scope))
	}
	a.expect = b.Int(s.ExpectExitCode, b.Scope())
	a.outputs = buildOutputsOver(b, s.Outputs, "results", []any{})
	return a, nil
}

// ExecDetail is an exec step's result: each pod's command and exit code.
type ExecDetail struct {
	Command  []string     `json:"command" doc:"The argv of the last run."`
	Expected int          `json:"expectedExitCode" doc:"The exit code the step wanted."`
	Pods     []ExecResult `json:"pods" doc:"One entry per pod, in the order run."`
}

// ExecResult is one pod's run of the command, as the outputs see it
// (stdout and stderr are not kept in the report, only their sizes).
type ExecResult struct {
	Pod         string `json:"pod"`
	Namespace   string `json:"namespace"`
	Node        string `json:"node"`
	Container   string `json:"container"`
	ExitCode    int    `json:"exitCode"`
	StdoutBytes int    `json:"stdoutBytes"`
	StderrTail  string `json:"stderrTail,omitempty" doc:"The last lines of stderr when the exit code was not the expected one."`
	stdout      string
	stderr      string
}

// Summary implements result.Detail.
func (d *ExecDetail) Summary() string {
	bad := 0
	for _, p := range d.Pods {
		if p.ExitCode != d.Expected {
			bad++
		}
	}
	if bad == 0 {
		return fmt.Sprintf("%d pod(s), exit %d", len(d.Pods), d.Expected)
	}
	return fmt.Sprintf("%d pod(s), %d with another exit code than %d", len(d.Pods), bad, d.Expected)
}

// Properties implements result.Detail.
func (d *ExecDetail) Properties() []result.Property {
	props := []result.Property{{Name: "command", Value: strings.Join(d.Command, " ")}}
	for _, p := range d.Pods {
		props = append(props, result.Property{Name: "exit." + p.Namespace + "/" + p.Pod, Value: strconv.Itoa(p.ExitCode)})
	}
	return props
}

// Section implements result.Sectioned: each pod's exit code, node and the
// end of stderr of an unexpected exit.
func (d *ExecDetail) Section() *result.Section {
	sec := &result.Section{Group: "Commands in pods", Note: quoteArgv(d.Command)}
	for _, p := range d.Pods {
		v := fmt.Sprintf("exit %d on %s, %d bytes of stdout", p.ExitCode, p.Node, p.StdoutBytes)
		if p.StderrTail != "" {
			v += "; stderr: " + p.StderrTail
		}
		sec.Facts = append(sec.Facts, result.Property{Name: p.Namespace + "/" + p.Pod + " (" + p.Container + ")", Value: v})
	}
	return sec
}

// Observing implements engine.Observing: a dry run skips it (a command
// could change what a dry run must leave alone).
func (*execAction) Observing() bool { return true }

// Run implements engine.Action.
func (a *execAction) Run(ctx context.Context, env *engine.Env) error {
	ex, ok := env.Cluster.(podExecer)
	if !ok {
		return errors.New("this cluster connection cannot exec into pods")
	}
	want := 0
	if a.expect.IsSet() {
		var err error
		if want, err = a.expect.Eval(env.Values()); err != nil {
			return fmt.Errorf("expectExitCode: %w", err)
		}
	}
	items, err := a.forEach.items(env.Values())
	if err != nil {
		return err
	}
	det := &ExecDetail{Expected: want}
	env.Result.Detail = det
	var results []any
	var failed []string
	for _, it := range items {
		job, err := a.resolve(ctx, env, it.vals)
		if err != nil {
			return err
		}
		det.Command = job.argv
		runs := a.runAll(ctx, ex, job, func(done int) { env.Progress(len(det.Pods)+done, len(det.Pods)+len(job.pods), "ran", 0) })
		for _, r := range runs {
			if r.err != nil {
				return fmt.Errorf("exec in pod %s/%s: %w", r.res.Namespace, r.res.Pod, r.err)
			}
			if r.res.ExitCode != want {
				r.res.StderrTail = lastLines(r.res.stderr, 5)
				failed = append(failed, failure(r.res, job.argv, want))
			}
			det.Pods = append(det.Pods, r.res)
			results = append(results, r.res.value())
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return a.outputs.setOver(env, "results", results)
}

// value is the result as expressions see it.
func (r ExecResult) value() map[string]any {
	return map[string]any{
		"pod": r.Pod, "namespace": r.Namespace, "node": r.Node, "container": r.Container,
		"stdout": r.stdout, "stderr": r.stderr, "exitCode": r.ExitCode,
	}
}

// failure words an unexpected exit: the pod, the command, the code and the
// end of stderr.
func failure(r ExecResult, argv []string, want int) string {
	msg := fmt.Sprintf("pod %s/%s (node %s): %s exited with code %d, want %d", r.Namespace, r.Pod, r.Node, quoteArgv(argv), r.ExitCode, want)
	if r.StderrTail != "" {
		msg += "; stderr: " + r.StderrTail
	}
	return msg
}

func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$|&;<>()*?") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return "[" + shorten(strings.Join(q, " "), 200) + "]"
}

// lastLines returns the last n non-empty lines of s, joined by " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var out []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return shorten(strings.Join(out, " | "), 500)
}

// execJob is one resolved run: the pods and what to run in them.
type execJob struct {
	pods      []*unstructured.Unstructured
	container string
	argv      []string
	stdin     *string
}

var execPodsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

func (a *execAction) resolve(ctx context.Context, env *engine.Env, vals eval.Values) (execJob, error) {
	var j execJob
	get := func(t *eval.Template, what string) (string, error) {
		s, err := str(t, vals)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return s, nil
	}
	ns, err := get(a.namespace, "namespace")
	if err != nil {
		return j, err
	}
	if ns == "" {
		ns = a.defaultNS
	}
	name, err := get(a.name, "name")
	if err != nil {
		return j, err
	}
	sel, err := get(a.labels, "labelSelector")
	if err != nil {
		return j, err
	}
	fsel, err := get(a.fields, "fieldSelector")
	if err != nil {
		return j, err
	}
	if j.container, err = get(a.container, "container"); err != nil {
		return j, err
	}
	for i, t := range a.command {
		s, err := get(t, fmt.Sprintf("command[%d]", i))
		if err != nil {
			return j, err
		}
		j.argv = append(j.argv, s)
	}
	if a.stdin != nil {
		s, err := get(a.stdin, "stdin")
		if err != nil {
			return j, err
		}
		j.stdin = &s
	}
	sels := kube.Selection{GVR: execPodsGVR, Kind: "Pod", Namespace: ns, Name: name, LabelSelector: sel, FieldSelector: fsel}
	env.Watch(sels)
	ri := env.Cluster.Dynamic().Resource(execPodsGVR).Namespace(ns)
	if name != "" {
		pod, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return j, fmt.Errorf("pod %s/%s: %w", ns, name, err)
		}
		j.pods = []*unstructured.Unstructured{pod}
		return j, nil
	}
	list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: sel, FieldSelector: fsel})
	if err != nil {
		return j, fmt.Errorf("listing %s: %w", sels, err)
	}
	for i := range list.Items {
		j.pods = append(j.pods, &list.Items[i])
	}
	sort.Slice(j.pods, func(x, y int) bool { return j.pods[x].GetName() < j.pods[y].GetName() })
	switch {
	case len(j.pods) == 0:
		return j, fmt.Errorf("no pod matches %s", sels)
	case len(j.pods) > 1 && !a.all:
		names := make([]string, len(j.pods))
		for i, p := range j.pods {
			names[i] = p.GetName()
		}
		return j, fmt.Errorf("%d pods match %s (%s): name one, or say all: true to run in each", len(j.pods), sels, shorten(strings.Join(names, ", "), 200))
	}
	return j, nil
}

type execRun struct {
	res ExecResult
	err error
}

// execParallel is how many pods run the command at once with all.
const execParallel = 8

// runAll runs the job in each pod, execParallel at a time, and returns the
// runs in pod order; progress is told how many have finished.
func (a *execAction) runAll(ctx context.Context, ex podExecer, j execJob, progress func(done int)) []execRun {
	runs := make([]execRun, len(j.pods))
	sem := make(chan struct{}, execParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, pod := range j.pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			runs[i] = runOne(ctx, ex, j, pod)
			mu.Lock()
			done++
			progress(done)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return runs
}

func runOne(ctx context.Context, ex podExecer, j execJob, pod *unstructured.Unstructured) execRun {
	node, _, _ := unstructured.NestedString(pod.Object, "spec", "nodeName")
	res := ExecResult{Pod: pod.GetName(), Namespace: pod.GetNamespace(), Node: node, Container: j.container}
	if res.Container == "" {
		cs, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
		if len(cs) > 0 {
			c, _ := cs[0].(map[string]any)
			res.Container, _ = c["name"].(string)
		}
	}
	stdout, stderr := &limitedBuffer{max: maxExecOutput, what: "stdout"}, &limitedBuffer{max: maxExecOutput, what: "stderr"}
	req := kube.ExecRequest{Namespace: res.Namespace, Pod: res.Pod, Container: res.Container, Command: j.argv, Stdout: stdout, Stderr: stderr}
	if j.stdin != nil {
		req.Stdin = strings.NewReader(*j.stdin)
	}
	code, err := ex.Exec(ctx, req)
	res.ExitCode, res.stdout, res.stderr, res.StdoutBytes = code, stdout.String(), stderr.String(), stdout.Len()
	if err == nil {
		err = errors.Join(stdout.err, stderr.err)
	}
	return execRun{res: res, err: err}
}

// limitedBuffer keeps at most max bytes and then fails the writes. It has
// only Write (no ReadFrom, no WriteString), so that io.Copy cannot pass by
// the limit.
type limitedBuffer struct {
	buf  bytes.Buffer
	max  int
	what string
	err  error
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.max {
		b.err = fmt.Errorf("%s over %d MiB: write large output to a file in the pod and read a checksum", b.what, b.max>>20)
		return 0, b.err
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) String() string { return b.buf.String() }
func (b *limitedBuffer) Len() int       { return b.buf.Len() }

var _ io.Writer = (*limitedBuffer)(nil)
