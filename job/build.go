package job

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// Where the pod sees its files, and the user it runs as.
const (
	// PlansDir holds the plans and the files they read.
	PlansDir = "/plans"
	// TimingsDir holds the --timings reports.
	TimingsDir = "/timings"
	// ReportsDir is the emptyDir the runner writes its report into.
	ReportsDir = "/reports"
	// RunAsUser is the pod's non-root user (and group): distroless's
	// "nonroot".
	RunAsUser = 65532
	// Container is the name of the pod's one container.
	Container = "runner"
)

// Labels, annotations and environment variables of runner job.
const (
	// LabelJob marks every object of a job, results included.
	LabelJob = "runner.io/job"
	// LabelIndex is a results ConfigMap's completion index.
	LabelIndex = "runner.io/job-index"
	// AnnotationObjects, on the plans ConfigMap, lists every object Build
	// made (JSON), so that runner job delete finds them all.
	AnnotationObjects = "runner.io/job-objects"
	// EnvJobUID is set from the pod's controller-uid label (downward API):
	// the uid results ConfigMaps name in their ownerReference.
	EnvJobUID = "RUNNER_JOB_UID"
	// EnvIndex is set by the Job controller in every pod of an Indexed
	// Job: 0 to completions-1.
	EnvIndex = "JOB_COMPLETION_INDEX"
	// labelControllerUID is the Job controller's label on its pods.
	labelControllerUID = "batch.kubernetes.io/controller-uid"
	// LabelJobName is the Job controller's label naming the Job on its pods.
	LabelJobName = "batch.kubernetes.io/job-name"
	// LabelCompletionIndex is the Job controller's label for a pod's index.
	LabelCompletionIndex = "batch.kubernetes.io/job-completion-index"
	managedBy            = "app.kubernetes.io/managed-by"
)

// ErrSpec marks a Spec that cannot be built (a bad name, no plans).
var ErrSpec = errors.New("invalid job")

// RBAC returns the roles and bindings the plans need, granted to the
// ServiceAccount sa (package rbac derives them from the plans). The
// objects may live in any namespace, or none (cluster-scoped).
type RBAC func(ctx context.Context, sa types.NamespacedName) ([]*unstructured.Unstructured, error)

// Spec is what Build needs.
type Spec struct {
	// Name names the Job and prefixes every other object.
	Name      string
	Namespace string
	Image     string
	// Shards is the Job's completions: pod I runs shard I+1 of Shards.
	Shards int
	// Args are the runner flags every pod runs with, paths already under
	// PlansDir and TimingsDir; the job's own flags and Plans follow them.
	Args []string
	// Plans are the plan files as the pod sees them (under PlansDir).
	Plans []string
	// Files are the plans and every file they read, relative to PlansDir.
	Files []File
	// Timings are --timings reports, relative to TimingsDir.
	Timings []File
	// Deadline bounds the whole Job (activeDeadlineSeconds); 0 is none.
	Deadline time.Duration
	// RBAC, when set, adds the plans' roles and bindings.
	RBAC RBAC
	// Secrets are --set-secret values: they go into the Secret
	// SecretName, reach the container as environment variables and its
	// arguments as $(VAR) references, never as text in the Job.
	Secrets []Secret
}

// Secret is one --set-secret: the variable's name and its value.
type Secret struct{ Name, Value string }

// SecretName is the Secret holding job name's --set-secret values.
func SecretName(name string) string { return name + "-secrets" }

// secretEnv is the environment variable of the i-th secret.
func secretEnv(i int) string { return "RUNNER_SECRET_" + strconv.Itoa(i) }

// Names of the objects of job name.
func PlansConfigMap(name string) string { return name + "-plans" }

// ResultName is the results ConfigMap of the pod with completion index i.
func ResultName(name string, i int) string { return name + "-result-" + strconv.Itoa(i) }

func resultsRole(name string) string { return name + "-results" }

// maxName keeps room for "-result-NNNN" and the pods' suffixes within the
// 63 characters of a label value (the Job's name is one on its pods).
const maxName = 40

// Build makes every object that runs spec in the cluster, in the order to
// create them: ServiceAccount, the results Role and RoleBinding, the
// plans' RBAC, the Secret of Spec.Secrets (if any), the plans ConfigMap,
// the Job. Plans and files that do not fit in a ConfigMap are an
// ErrTooBig.
func Build(ctx context.Context, s Spec) ([]*unstructured.Unstructured, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	files := keyed("p", s.Files)
	timings := keyed("t", s.Timings)
	if err := checkSize(append(slices.Clone(files), timings...)); err != nil {
		return nil, err
	}
	labels := map[string]string{LabelJob: s.Name, managedBy: "runner"}
	om := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: s.Namespace, Labels: labels}
	}
	var objs []runtime.Object
	sa := &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: om(s.Name)}
	objs = append(objs, sa, s.role(om(resultsRole(s.Name))), &rbacv1.RoleBinding{
		TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: om(resultsRole(s.Name)),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: resultsRole(s.Name)},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: s.Name, Namespace: s.Namespace}},
	})
	out := make([]*unstructured.Unstructured, 0, len(objs)+3)
	for _, o := range objs {
		u, err := toUnstructured(o)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if s.RBAC != nil {
		extra, err := s.RBAC(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
		if err != nil {
			return nil, fmt.Errorf("RBAC for the plans: %w", err)
		}
		extra = slices.Clone(extra)
		slices.SortStableFunc(extra, compareRBAC)
		for _, u := range extra {
			u = u.DeepCopy()
			l := u.GetLabels()
			if l == nil {
				l = map[string]string{}
			}
			l[LabelJob], l[managedBy] = s.Name, "runner"
			u.SetLabels(l)
			out = append(out, u)
		}
	}
	cm := &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: om(PlansConfigMap(s.Name)), Data: map[string]string{}, BinaryData: map[string][]byte{}}
	for _, f := range append(slices.Clone(files), timings...) {
		if isText(f.Data) {
			cm.Data[f.key] = string(f.Data)
		} else {
			cm.BinaryData[f.key] = f.Data
		}
	}
	if len(cm.BinaryData) == 0 {
		cm.BinaryData = nil
	}
	job := s.job(om(s.Name), files, timings)
	var refs []ObjectRef
	for _, u := range out {
		refs = append(refs, RefOf(u))
	}
	cmU, err := toUnstructured(cm)
	if err != nil {
		return nil, err
	}
	jobU, err := toUnstructured(job)
	if err != nil {
		return nil, err
	}
	if len(s.Secrets) > 0 {
		sec := &corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: om(SecretName(s.Name)), Type: corev1.SecretTypeOpaque, StringData: map[string]string{}}
		for i, v := range s.Secrets {
			sec.StringData[secretKey(i)] = v.Value
		}
		secU, err := toUnstructured(sec)
		if err != nil {
			return nil, err
		}
		out = append(out, secU)
		refs = append(refs, RefOf(secU))
	}
	refs = append(refs, RefOf(cmU), RefOf(jobU))
	list, err := json.Marshal(refs)
	if err != nil {
		return nil, err
	}
	cmU.SetAnnotations(map[string]string{AnnotationObjects: string(list)})
	return append(out, cmU, jobU), nil
}

func (s Spec) check() error {
	var errs []error
	if s.Name == "" || len(s.Name) > maxName {
		errs = append(errs, fmt.Errorf("name %q: give 1 to %d characters", s.Name, maxName))
	}
	for _, m := range validation.IsDNS1123Label(s.Name) {
		errs = append(errs, fmt.Errorf("name %q: %s", s.Name, m))
	}
	if s.Namespace == "" {
		errs = append(errs, errors.New("no namespace"))
	}
	if s.Image == "" {
		errs = append(errs, errors.New("no image"))
	}
	if s.Shards < 1 {
		errs = append(errs, fmt.Errorf("shards %d: give 1 or more", s.Shards))
	}
	if len(s.Plans) == 0 {
		errs = append(errs, errors.New("no plans"))
	}
	if err := checkPaths(s.Files); err != nil {
		errs = append(errs, err)
	}
	if err := checkPaths(s.Timings); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrSpec, errors.Join(errs...))
	}
	return nil
}

// role lets the pods write their results: create cannot be limited to
// names (the name is not known when a create is authorized), get, update
// and patch can.
func (s Spec) role(om metav1.ObjectMeta) *rbacv1.Role {
	var names []string
	for i := range s.Shards {
		names = append(names, ResultName(s.Name, i))
	}
	return &rbacv1.Role{
		TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: om,
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: names, Verbs: []string{"get", "update", "patch"}},
		},
	}
}

// PodArgs are the container's arguments: the user's flags, the job's own
// and the plans.
func (s Spec) PodArgs() []string {
	args := slices.Clone(s.Args)
	for i, v := range s.Secrets {
		// The kubelet expands $(VAR) from the container's environment.
		args = append(args, "--set-secret", v.Name+"=$("+secretEnv(i)+")")
	}
	args = append(args, "--job-shards", strconv.Itoa(s.Shards), "--publish", s.Namespace+"/"+s.Name, "--report-dir", ReportsDir)
	return append(args, s.Plans...)
}

func (s Spec) job(om metav1.ObjectMeta, files, timings []mounted) *batchv1.Job {
	items := func(fs []mounted) []corev1.KeyToPath {
		out := make([]corev1.KeyToPath, len(fs))
		for i, f := range fs {
			out[i] = corev1.KeyToPath{Key: f.key, Path: f.Path}
		}
		return out
	}
	cmVolume := func(name string, fs []mounted) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: PlansConfigMap(s.Name)}, Items: items(fs)}}}
	}
	volumes := []corev1.Volume{cmVolume("plans", files)}
	mounts := []corev1.VolumeMount{{Name: "plans", MountPath: PlansDir, ReadOnly: true}}
	if len(timings) > 0 {
		volumes = append(volumes, cmVolume("timings", timings))
		mounts = append(mounts, corev1.VolumeMount{Name: "timings", MountPath: TimingsDir, ReadOnly: true})
	}
	volumes = append(volumes,
		corev1.Volume{Name: "reports", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	mounts = append(mounts,
		corev1.VolumeMount{Name: "reports", MountPath: ReportsDir},
		corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
	podLabels := map[string]string{LabelJob: s.Name, managedBy: "runner"}
	j := &batchv1.Job{
		TypeMeta: typeMeta("batch/v1", "Job"), ObjectMeta: om,
		Spec: batchv1.JobSpec{
			CompletionMode: ptr.To(batchv1.IndexedCompletion),
			Completions:    ptr.To(int32(s.Shards)),
			Parallelism:    ptr.To(int32(s.Shards)),
			// A failed shard is a result, not a flake to retry: each
			// index runs once, and one index failing leaves the
			// others running.
			BackoffLimitPerIndex: ptr.To(int32(0)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					ServiceAccountName:           s.Name,
					AutomountServiceAccountToken: ptr.To(true),
					RestartPolicy:                corev1.RestartPolicyNever,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(RunAsUser)), RunAsGroup: ptr.To(int64(RunAsUser)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name: Container, Image: s.Image, Args: s.PodArgs(), Env: s.env(),
						VolumeMounts:             mounts,
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true), RunAsNonRoot: ptr.To(true),
							Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
					Volumes: volumes,
				},
			},
		},
	}
	if s.Deadline > 0 {
		j.Spec.ActiveDeadlineSeconds = ptr.To(int64(s.Deadline.Seconds()))
	}
	return j
}

// env is the container's environment: the Job's uid from the pod's label,
// and each secret from the Secret.
func (s Spec) env() []corev1.EnvVar {
	env := []corev1.EnvVar{{Name: EnvJobUID, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		FieldPath: fmt.Sprintf("metadata.labels['%s']", labelControllerUID)}}}}
	for i := range s.Secrets {
		env = append(env, corev1.EnvVar{Name: secretEnv(i), ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: SecretName(s.Name)}, Key: secretKey(i)}}})
	}
	return env
}

func secretKey(i int) string { return "s" + strconv.Itoa(i) }

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

// toUnstructured converts a typed object, without the empty fields the
// conversion adds (creationTimestamp: null, status: {}).
func toUnstructured(o runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

// rbacOrder creates roles before the bindings that name them.
var rbacOrder = map[string]int{"Role": 0, "ClusterRole": 1, "RoleBinding": 2, "ClusterRoleBinding": 3}

func compareRBAC(a, b *unstructured.Unstructured) int {
	oa, ok := rbacOrder[a.GetKind()]
	if !ok {
		oa = len(rbacOrder)
	}
	ob, ok := rbacOrder[b.GetKind()]
	if !ok {
		ob = len(rbacOrder)
	}
	return cmp.Or(cmp.Compare(oa, ob), cmp.Compare(a.GetKind(), b.GetKind()),
		cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
}

// isText reports whether data can be a ConfigMap's data value (UTF-8).
func isText(data []byte) bool {
	return utf8.Valid(data)
}

// ObjectRef names one object runner job made, with its resource for the
// dynamic client.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Resource   string `json:"resource"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// GVR is the reference's group, version and resource.
func (r ObjectRef) GVR() schema.GroupVersionResource {
	gv, _ := schema.ParseGroupVersion(r.APIVersion)
	return gv.WithResource(r.Resource)
}

func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// RefOf names u; its resource is guessed from the kind the way kubectl
// does for kinds it has not discovered (every kind Build makes has the
// regular plural).
func RefOf(u *unstructured.Unstructured) ObjectRef {
	gvk := u.GroupVersionKind()
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return ObjectRef{APIVersion: u.GetAPIVersion(), Kind: gvk.Kind, Resource: plural.Resource, Namespace: u.GetNamespace(), Name: u.GetName()}
}
