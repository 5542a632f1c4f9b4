package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var (
	jobs = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	pods = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// ErrNotFound marks a job that does not exist.
var ErrNotFound = errors.New("no such job")

// Outcome is how a shard, or the whole job, ended.
type Outcome int

// Outcomes, from best to worst.
const (
	// Running: not ended yet.
	Running Outcome = iota
	Passed
	Failed
	// Refused: a pod exited 3, the runner's code for a cluster it could
	// not reach or a preflight that refused the run.
	Refused
)

func (o Outcome) String() string {
	return [...]string{"running", "passed", "failed", "refused"}[o]
}

// Shard is one completion index of a job: its latest pod and its result.
type Shard struct {
	Index int
	// Pod is the latest pod of the index ("" before the Job made one),
	// Phase its phase.
	Pod   string
	Phase corev1.PodPhase
	// Exit is the runner container's exit code once it terminated.
	Exit *int32
	// Reason is why a pod failed or is waiting (OOMKilled,
	// ImagePullBackOff, DeadlineExceeded), if it says.
	Reason string
	// Published is set once the pod published its results ConfigMap.
	Published bool
	// Report is the published report.json (nil without one).
	Report []byte
	// Outcome of the published report (passed, failed, ...).
	ReportOutcome string
	// Truncated and Error are the results' annotations.
	Truncated, Error string
}

// Outcome is the shard's: Refused when its container exited 3; Failed when
// it exited otherwise non-zero, its report did not pass or it ended
// without one; Passed when both its exit code (if known) and its report
// say so; Running before either.
func (s Shard) Outcome() Outcome {
	if s.Exit != nil && *s.Exit == 3 {
		return Refused
	}
	ended := s.Exit != nil || s.Phase == corev1.PodSucceeded || s.Phase == corev1.PodFailed
	switch {
	case !s.Published && !ended:
		return Running
	case s.Exit != nil && *s.Exit != 0, s.Phase == corev1.PodFailed:
		return Failed
	case !s.Published, s.Report == nil:
		return Failed // ended without a report
	case s.ReportOutcome != "passed" && s.ReportOutcome != "skipped":
		return Failed
	}
	return Passed
}

// Status is what a job is doing.
type Status struct {
	Namespace, Name string
	Shards          []Shard
	// Finished is set when the Job has its Complete or Failed condition;
	// Condition is its reason and message.
	Finished  bool
	Condition string
}

// Done reports whether every shard ended, or the Job did.
func (s *Status) Done() bool {
	if s.Finished {
		return true
	}
	for _, sh := range s.Shards {
		if sh.Outcome() == Running {
			return false
		}
	}
	return true
}

// Outcome is the worst of the shards' (a shard still running when the Job
// finished, e.g. past its deadline, failed).
func (s *Status) Outcome() Outcome {
	worst := Passed
	for _, sh := range s.Shards {
		o := sh.Outcome()
		if o == Running {
			if !s.Finished {
				return Running
			}
			o = Failed
		}
		worst = max(worst, o)
	}
	return worst
}

// Read finds the Job namespace/name, the latest pod of each index and the
// results the pods published.
func Read(ctx context.Context, dyn dynamic.Interface, namespace, name string) (*Status, error) {
	u, err := dyn.Resource(jobs).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w %s in namespace %s", ErrNotFound, name, namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("job %s/%s: %w", namespace, name, err)
	}
	var j batchv1.Job
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &j); err != nil {
		return nil, fmt.Errorf("job %s/%s: %w", namespace, name, err)
	}
	if j.Labels[LabelJob] != name {
		return nil, fmt.Errorf("job %s/%s was not made by runner job (no label %s=%s)", namespace, name, LabelJob, name)
	}
	st := &Status{Namespace: namespace, Name: name}
	n := 1
	if j.Spec.Completions != nil {
		n = int(*j.Spec.Completions)
	}
	st.Shards = make([]Shard, n)
	for i := range st.Shards {
		st.Shards[i].Index = i
	}
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			st.Finished, st.Condition = true, fmt.Sprintf("%s: %s %s", c.Type, c.Reason, c.Message)
		}
	}
	podList, err := dyn.Resource(pods).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelJobName + "=" + name})
	if err != nil {
		return nil, fmt.Errorf("pods of job %s/%s: %w", namespace, name, err)
	}
	latest := map[int]*corev1.Pod{}
	for _, item := range podList.Items {
		var p corev1.Pod
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &p); err != nil {
			return nil, fmt.Errorf("pod %s: %w", item.GetName(), err)
		}
		i, err := strconv.Atoi(p.Labels[LabelCompletionIndex])
		if err != nil || i < 0 || i >= n {
			continue
		}
		if prev := latest[i]; prev == nil || prev.CreationTimestamp.Before(&p.CreationTimestamp) {
			latest[i] = &p
		}
	}
	for i, p := range latest {
		sh := &st.Shards[i]
		sh.Pod, sh.Phase, sh.Reason = p.Name, p.Status.Phase, p.Status.Reason
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name != Container {
				continue
			}
			if t := cs.State.Terminated; t != nil {
				sh.Exit = &t.ExitCode
				if t.Reason != "" && t.Reason != "Completed" {
					sh.Reason = t.Reason
				}
			} else if w := cs.State.Waiting; w != nil && w.Reason != "" {
				sh.Reason = w.Reason
			}
		}
	}
	cms, err := dyn.Resource(configMaps).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelJob + "=" + name + "," + LabelIndex})
	if err != nil {
		return nil, fmt.Errorf("results of job %s/%s: %w", namespace, name, err)
	}
	for _, item := range cms.Items {
		var cm corev1.ConfigMap
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &cm); err != nil {
			return nil, fmt.Errorf("configmap %s: %w", item.GetName(), err)
		}
		i, err := strconv.Atoi(cm.Labels[LabelIndex])
		if err != nil || i < 0 || i >= n || cm.Name != ResultName(name, i) {
			continue
		}
		sh := &st.Shards[i]
		sh.Published = true
		sh.ReportOutcome, sh.Truncated, sh.Error = cm.Annotations[AnnotationOutcome], cm.Annotations[AnnotationTruncated], cm.Annotations[AnnotationError]
		if gz, ok := cm.BinaryData[ResultKey]; ok {
			data, err := gunzip(gz)
			if err != nil {
				sh.Error = fmt.Sprintf("results ConfigMap %s: %s: %v", cm.Name, ResultKey, err)
				continue
			}
			sh.Report = data
		}
	}
	return st, nil
}

// Objects lists what runner job made for namespace/name, in the order to
// delete them: the Job, its pods, the results ConfigMaps, then what the
// plans ConfigMap's AnnotationObjects lists, newest first. Without that
// ConfigMap it finds, by the LabelJob label in the namespace, the kinds
// Build makes there.
func Objects(ctx context.Context, dyn dynamic.Interface, namespace, name string) ([]ObjectRef, error) {
	var out []ObjectRef
	var errs []error
	listed := func(gvr schema.GroupVersionResource, kind, selector string) {
		l, err := dyn.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			errs = append(errs, fmt.Errorf("listing %s: %w", gvr.Resource, err))
			return
		}
		for _, it := range l.Items {
			out = append(out, ObjectRef{APIVersion: gvr.GroupVersion().String(), Kind: kind, Resource: gvr.Resource, Namespace: namespace, Name: it.GetName()})
		}
	}
	out = append(out, ObjectRef{APIVersion: "batch/v1", Kind: "Job", Resource: "jobs", Namespace: namespace, Name: name})
	listed(pods, "Pod", LabelJobName+"="+name)
	listed(configMaps, "ConfigMap", LabelJob+"="+name+","+LabelIndex)
	cm, err := dyn.Resource(configMaps).Namespace(namespace).Get(ctx, PlansConfigMap(name), metav1.GetOptions{})
	switch {
	case err == nil && cm.GetLabels()[LabelJob] == name:
		var made []ObjectRef
		if err := json.Unmarshal([]byte(cm.GetAnnotations()[AnnotationObjects]), &made); err != nil {
			return nil, fmt.Errorf("configmap %s/%s: annotation %s: %w", namespace, cm.GetName(), AnnotationObjects, err)
		}
		slices.Reverse(made)
		for _, r := range made {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	case err == nil || apierrors.IsNotFound(err):
		sel := LabelJob + "=" + name + ",!" + LabelIndex
		listed(configMaps, "ConfigMap", sel)
		listed(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "Secret", sel)
		listed(schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, "RoleBinding", sel)
		listed(schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, "Role", sel)
		listed(schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, "ServiceAccount", sel)
	default:
		errs = append(errs, fmt.Errorf("configmap %s/%s: %w", namespace, PlansConfigMap(name), err))
	}
	return out, errors.Join(errs...)
}
