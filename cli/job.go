package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/files"
	"github.com/scenario-runner/runner/job"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/rbac"
	"github.com/scenario-runner/runner/report"
	"github.com/scenario-runner/runner/result"
	"github.com/scenario-runner/runner/steps"
)

// planRBAC derives the roles and bindings plans need, granted to sa, with
// kinds mapped by m, and says what it could not derive (needs known only
// at run time).
type planRBAC func(ctx context.Context, plans []*engine.Plan, sa types.NamespacedName, m rbac.Mapper) (objs []*unstructured.Unstructured, unknown []string, err error)

// derivedRBAC is runner rbac's derivation, named and bound like the job's
// ServiceAccount.
func derivedRBAC(_ context.Context, plans []*engine.Plan, sa types.NamespacedName, m rbac.Mapper) ([]*unstructured.Unstructured, []string, error) {
	policy, err := rbac.Derive(plans, steps.Kinds(), m)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", engine.ErrInvalid, err)
	}
	objs := policy.Objects(rbac.Options{Name: sa.Name, ServiceAccount: &rbac.ServiceAccount{Namespace: sa.Namespace, Name: sa.Name}})
	return objs, policy.Unknown, nil
}

// clusterOptions say which cluster and namespace a job command talks to.
type clusterOptions struct {
	kubeconfig, kubeContext, namespace string
}

func (c *clusterOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	f.StringVar(&c.kubeContext, "context", "", "kubeconfig context to use")
	f.StringVarP(&c.namespace, "namespace", "n", "default", "namespace of the Job, its ServiceAccount, ConfigMaps and results")
}

func (c *clusterOptions) client(ctx context.Context) (*kube.Client, error) {
	return connect(ctx, kube.Options{Kubeconfig: c.kubeconfig, Context: c.kubeContext})
}

type jobOptions struct {
	streams Streams
	cluster clusterOptions
	in      inputs
	sel     selection
	// Flags passed on to the runner in the pods.
	cleanup        string
	timeout        time.Duration
	cleanupTimeout time.Duration
	meta           []string
	allowCommands  bool
	logLevel       string
	// The job's own.
	image     string
	name      string
	shards    int
	output    string
	apply     bool
	follow    bool
	discover  bool
	reportDir string
	rbac      planRBAC
}

func newJobCommand(streams Streams, rbac planRBAC) *cobra.Command {
	o := &jobOptions{streams: streams, rbac: rbac}
	cmd := &cobra.Command{
		Use:   "job PATH... --image IMAGE [--namespace NS] [--shards N] [-o yaml | --apply [--follow]]",
		Short: "Run plans inside the cluster: print or apply a Job that runs them, its ServiceAccount, RBAC and ConfigMap",
		Long: `job validates the plans (as runner list does: files and folders, --selector,
--set, --values), then builds everything needed to run them in the cluster:

  - a ConfigMap NAME-plans with the plans and every file they read (file:
    manifests, --values files, --timings reports), at most 1 MiB in all (a
    bigger set is refused naming its biggest files, exit 2); mounted at
    /plans (and /timings) with the same folders as here below the plans'
    common folder (or --root);
  - a ServiceAccount NAME, a Role and RoleBinding NAME-results that let
    it write its results, and the plans' own RBAC as runner rbac derives
    it (kinds mapped with the cluster's discovery with --apply or
    --discover, else by name), named NAME and bound to the ServiceAccount;
    what is known only at run time is listed on stderr, to grant by hand;
  - an Indexed Job NAME of --shards completions: pod I runs
    "runner --shard I+1/N" of the same partition runner list --shards N
    prints (same --selector, --timings and --parallel). Each index runs
    once (backoffLimitPerIndex 0: a failed shard is a result, not a flake
    to retry) and fails alone. The pods meet the restricted Pod Security
    Standard: user 65532, no privilege escalation, all capabilities
    dropped, seccomp RuntimeDefault, read-only root filesystem, reports
    on an emptyDir. activeDeadlineSeconds is the sum of the cells'
    timeouts and cleanup timeouts plus 10m (none when a plan has no
    timeout). The image's entrypoint must be runner (make image's is).

Without --apply it prints them as YAML (print before you apply; the output
is sorted and stable, for kubectl apply -f - or review). --apply creates
them (in that order; the namespace must exist); a failure deletes what was
created. --follow then shows each pod's progress and each plan's outcome as
results arrive, writes the merged report into --report-dir and exits with
the Job's outcome: 0 all shards passed, 3 a pod exited 3 (the cluster
refused or could not be reached from the pod), else 1.

Results: each pod writes its report.json, gzipped, into a ConfigMap
NAME-result-I owned by the Job (no sidecar, no logs needed, no rights
beyond its own Role). At most 900 KiB gzipped (some 9 MB of report.json);
past that the pod drops step details and progress, then nested steps, then
all steps, marking each plan with a warning and the ConfigMap with
runner.io/truncated; its exit code is unchanged. "runner job fetch NAME"
reads them; "runner job delete NAME" removes everything job created.

--set-secret values go into a Secret NAME-secrets and reach the runner in
the pod as $(RUNNER_SECRET_I) in its arguments, expanded by the kubelet
from environment variables: never as text in the Job. -o yaml leaves the
Secret out (stderr says how to create it); --apply creates it.`,
		Example: `  runner job scenarios/ --image registry.example/runner:v1 -n runner-tests > job.yaml
  runner job scenarios/ --image registry.example/runner:v1 -n runner-tests --shards 4 --apply --follow --report-dir out
  runner job fetch runner-suite-1a2b3c -n runner-tests --report-dir out
  runner job delete runner-suite-1a2b3c -n runner-tests`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJob(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	o.in.addFlags(f)
	o.sel.addSelectorFlags(f)
	f.StringArrayVar(&o.sel.cells, "cell", nil, "only the cell with this id (repeatable)")
	f.IntVar(&o.sel.parallel, "parallel", 1, "the --parallel each pod runs its shard with (shards are packed for it)")
	f.StringVar(&o.cleanup, "cleanup", "", "passed on: when to delete what the plans created: always, on-success or never")
	f.DurationVar(&o.timeout, "timeout", 0, "passed on: bound on each plan, overriding the plan's timeout")
	f.DurationVar(&o.cleanupTimeout, "cleanup-timeout", engine.DefaultCleanupTimeout, "passed on: bound on the cleanup of each plan")
	f.StringArrayVar(&o.meta, "meta", nil, "passed on: key=value stored in report.json (repeatable)")
	f.BoolVar(&o.allowCommands, "allow-commands", false, "passed on: let command steps run programs in the pod")
	f.StringVar(&o.logLevel, "log-level", "info", "passed on: the pods' log level")
	f.StringVar(&o.image, "image", "", "the runner image the pods run (required)")
	f.StringVar(&o.name, "name", "", "name of the Job and prefix of its objects (default: runner-<plan or suite>-<hash of the inputs>, at most 40 characters)")
	f.IntVar(&o.shards, "shards", 1, "completions of the Indexed Job: pod I runs shard I+1 of N")
	f.StringVarP(&o.output, "output", "o", "", "yaml: print the objects (the default without --apply)")
	f.BoolVar(&o.apply, "apply", false, "create the objects in the cluster")
	f.BoolVar(&o.discover, "discover", false, "map the plans' kinds with the cluster's discovery for their RBAC, as --apply does (default without --apply: by name)")
	f.BoolVar(&o.follow, "follow", false, "with --apply: show the pods' progress, write the merged report into --report-dir, exit with the Job's outcome")
	f.StringVar(&o.reportDir, "report-dir", "", "with --follow: folder for the merged report.json, junit.xml and report.html (each shard's under shard-I/)")
	o.cluster.addFlags(cmd)
	cmd.AddCommand(newJobFetchCommand(streams), newJobDeleteCommand(streams))
	for _, c := range cmd.Commands() {
		wrapArgs(c)
	}
	return cmd
}

func runJob(ctx context.Context, o *jobOptions, args []string) error {
	switch {
	case o.image == "":
		return fmt.Errorf("%w: --image is required: the runner image the pods run", ErrUsage)
	case o.output != "" && o.output != "yaml":
		return fmt.Errorf("%w: -o %q: use yaml", ErrUsage, o.output)
	case o.output != "" && o.apply:
		return fmt.Errorf("%w: give -o yaml or --apply, not both (print, review, then apply)", ErrUsage)
	case o.follow && !o.apply:
		return fmt.Errorf("%w: --follow needs --apply (or use runner job fetch NAME --follow)", ErrUsage)
	case o.follow && o.reportDir == "":
		return fmt.Errorf("%w: --follow needs --report-dir for the merged report", ErrUsage)
	case o.shards < 1:
		return fmt.Errorf("%w: --shards %d: give 1 or more", ErrUsage, o.shards)
	case o.sel.parallel < 1:
		return fmt.Errorf("%w: --parallel %d: give 1 or more", ErrUsage, o.sel.parallel)
	}
	switch result.CleanupPolicy(o.cleanup) {
	case "", result.CleanupAlways, result.CleanupOnSuccess, result.CleanupNever:
	default:
		return fmt.Errorf("%w: --cleanup %q: use always, on-success or never", ErrUsage, o.cleanup)
	}
	if _, err := parseMeta(o.meta); err != nil {
		return err
	}
	s, err := loadSuite(args, o.in, o.sel)
	if err == nil && !o.allowCommands {
		err = refuseLocal(onePerPlan(s.Plans))
	}
	if err != nil {
		renderInvalid(o.streams.Err, err)
		return err
	}
	if len(s.Plans) == 0 {
		return fmt.Errorf("%w: no cells selected in %v (after --selector and --cell)", ErrUsage, args)
	}
	spec, err := o.spec(s)
	if err != nil {
		return err
	}
	// With a cluster, kinds map as the pods' preflight maps them (a
	// cluster-scoped custom kind is only known from discovery).
	var client *kube.Client
	var mapper rbac.Mapper = rbac.Guess{}
	if o.apply || o.discover {
		if client, err = o.cluster.client(ctx); err != nil {
			return err
		}
		mapper = rbac.Discovered{Mapper: client.RESTMapper()}
	}
	if o.rbac != nil {
		spec.RBAC = func(ctx context.Context, sa types.NamespacedName) ([]*unstructured.Unstructured, error) {
			objs, unknown, err := o.rbac(ctx, s.Plans, sa, mapper)
			if len(unknown) > 0 {
				fmt.Fprintf(o.streams.Err, "runner job: not derived, known only at run time (grant these to ServiceAccount %s/%s by hand):\n", sa.Namespace, sa.Name)
				for _, u := range unknown {
					fmt.Fprintf(o.streams.Err, "  %s\n", u)
				}
			}
			return objs, err
		}
	} else {
		fmt.Fprintf(o.streams.Err, "runner job: no RBAC derived for the plans; ServiceAccount %s/%s may only write its results\n", spec.Namespace, spec.Name)
	}
	objs, err := job.Build(ctx, spec)
	if errors.Is(err, engine.ErrInvalid) {
		return err
	}
	if errors.Is(err, job.ErrTooBig) || errors.Is(err, job.ErrSpec) {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if err != nil {
		return err
	}
	if !o.apply {
		if len(spec.Secrets) > 0 {
			objs = withoutSecrets(objs)
			fmt.Fprintf(o.streams.Err, "runner job: Secret %s/%s (the --set-secret values) is not printed; runner job --apply creates it, or create it before applying:\n  kubectl create secret generic %s -n %s",
				spec.Namespace, job.SecretName(spec.Name), job.SecretName(spec.Name), spec.Namespace)
			for i, sec := range spec.Secrets {
				fmt.Fprintf(o.streams.Err, " --from-literal=s%d=\"$%s\"", i, strings.ToUpper(sec.Name))
			}
			fmt.Fprintln(o.streams.Err)
		}
		return printObjects(o.streams.Out, objs)
	}
	if err := createObjects(ctx, client, spec.Name, objs, o.streams.Err); err != nil {
		return err
	}
	fmt.Fprintf(o.streams.Out, "job %s/%s created: %d shard(s); runner job fetch %s -n %s; runner job delete %s -n %s\n",
		spec.Namespace, spec.Name, spec.Shards, spec.Name, spec.Namespace, spec.Name, spec.Namespace)
	if !o.follow {
		return nil
	}
	return fetchJob(ctx, o.streams, client.Dynamic(), spec.Namespace, spec.Name, o.reportDir, true)
}

// spec maps the loaded suite onto what the pods see: every plan and file
// it read below one folder (--root, else the plans' common folder), at the
// same relative path under job.PlansDir.
func (o *jobOptions) spec(s *suitePlans) (job.Spec, error) {
	plans := onePerPlan(s.Plans)
	var base string
	var err error
	if o.in.root != "" {
		if base, err = realPath(o.in.root); err != nil {
			return job.Spec{}, fmt.Errorf("%w: --root: %v", ErrUsage, err)
		}
	}
	type local struct{ real, given string }
	var want []local
	for _, p := range plans {
		real, err := realPath(p.File)
		if err != nil {
			return job.Spec{}, fmt.Errorf("%w: %s: %v", ErrUsage, p.File, err)
		}
		want = append(want, local{real, p.File})
		if o.in.root == "" {
			base = commonDir(base, filepath.Dir(real))
		}
	}
	planCount := len(want)
	for _, p := range plans {
		for _, f := range p.Files {
			want = append(want, local{f, f})
		}
	}
	valuesAt := len(want)
	for _, v := range o.in.valuesFiles {
		real, err := realPath(v)
		if err != nil {
			return job.Spec{}, fmt.Errorf("%w: --values %s: %v", ErrUsage, v, err)
		}
		want = append(want, local{real, v})
	}
	spec := job.Spec{Namespace: o.cluster.namespace, Image: o.image, Shards: o.shards}
	podPath := map[string]string{} // --values as given -> as the pod sees it
	seen := map[string]bool{}      // relative paths already in Files
	for i, w := range want {
		rel, err := filepath.Rel(base, w.real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return job.Spec{}, fmt.Errorf("%w: %s is outside %s, the folder the pods get", ErrUsage, w.given, base)
		}
		rel = filepath.ToSlash(rel)
		if i < planCount {
			spec.Plans = append(spec.Plans, job.PlansDir+"/"+rel)
		}
		if i >= valuesAt {
			podPath[w.given] = job.PlansDir + "/" + rel
		}
		if seen[rel] {
			continue // a file two plans read, or a values file a plan reads
		}
		seen[rel] = true
		data, err := files.ReadFile(w.real)
		if err != nil {
			return job.Spec{}, fmt.Errorf("%w: %s: %v", ErrUsage, w.given, err)
		}
		spec.Files = append(spec.Files, job.File{Path: rel, Source: w.given, Data: data})
	}
	// The flags the pods run with, in a fixed order.
	var args []string
	if o.in.root != "" {
		args = append(args, "--root", job.PlansDir)
	}
	for _, v := range o.in.valuesFiles {
		args = append(args, "--values", podPath[v])
	}
	for _, v := range o.in.sets {
		args = append(args, "--set", v)
	}
	for _, v := range o.in.optional {
		args = append(args, "--set-optional", v)
	}
	if o.sel.selector != "" {
		args = append(args, "--selector", o.sel.selector)
	}
	for _, c := range o.sel.cells {
		args = append(args, "--cell", c)
	}
	if len(o.sel.timings) > 0 {
		reports, err := report.FindReports(o.sel.timings)
		if err != nil {
			return job.Spec{}, fmt.Errorf("%w: --timings: %v", ErrUsage, err)
		}
		for i, r := range reports {
			data, err := os.ReadFile(r)
			if err != nil {
				return job.Spec{}, fmt.Errorf("%w: --timings: %v", ErrUsage, err)
			}
			p := fmt.Sprintf("%d/%s", i, report.JSONFile)
			spec.Timings = append(spec.Timings, job.File{Path: p, Source: r, Data: data})
			args = append(args, "--timings", job.TimingsDir+"/"+p)
		}
	}
	if o.sel.parallel > 1 {
		args = append(args, "--parallel", strconv.Itoa(o.sel.parallel))
	}
	if o.cleanup != "" {
		args = append(args, "--cleanup", o.cleanup)
	}
	if o.timeout > 0 {
		args = append(args, "--timeout", o.timeout.String())
	}
	if o.cleanupTimeout != engine.DefaultCleanupTimeout {
		args = append(args, "--cleanup-timeout", o.cleanupTimeout.String())
	}
	for _, m := range o.meta {
		args = append(args, "--meta", m)
	}
	if o.allowCommands {
		args = append(args, "--allow-commands")
	}
	if o.logLevel != "info" {
		args = append(args, "--log-level", o.logLevel)
	}
	for _, sec := range o.in.secretSets {
		k, v, _ := strings.Cut(sec, "=") // loadSuite checked the form
		spec.Secrets = append(spec.Secrets, job.Secret{Name: k, Value: v})
	}
	spec.Args = args
	spec.Deadline = o.deadline(s.Plans)
	spec.Name = o.name
	if spec.Name == "" {
		spec.Name = defaultJobName(plans, spec)
	}
	return spec, nil
}

// deadline is the sum over the cells of their timeouts and cleanup
// timeouts, plus 10 minutes for pulling the image and starting: an upper
// bound whatever the partition. 0 (none) when a cell has no timeout.
func (o *jobOptions) deadline(cells []*engine.Plan) time.Duration {
	total := 10 * time.Minute
	for _, p := range cells {
		t := p.Timeout
		if o.timeout > 0 {
			t = o.timeout
		}
		if t <= 0 {
			return 0
		}
		total += t + o.cleanupTimeout
	}
	return total
}

// defaultJobName is runner-<plan name, or suite>-<6 hex of a hash of the
// inputs>: the same inputs give the same name, so printing twice prints
// the same objects.
func defaultJobName(plans []*engine.Plan, spec job.Spec) string {
	what := "suite"
	if len(plans) == 1 {
		what = plans[0].Name
	}
	if len(what) > 26 {
		what = strings.TrimRight(what[:26], "-")
	}
	h := sha256.New()
	for _, f := range spec.Files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Path, len(f.Data))
		h.Write(f.Data)
	}
	for _, f := range spec.Timings {
		h.Write(f.Data)
	}
	fmt.Fprintf(h, "%q %q %q %d", spec.Args, spec.Image, spec.Namespace, spec.Shards)
	return "runner-" + what + "-" + hex.EncodeToString(h.Sum(nil))[:6]
}

func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// commonDir is the deepest folder holding both a and b ("" is none yet).
func commonDir(a, b string) string {
	if a == "" {
		return b
	}
	for {
		rel, err := filepath.Rel(a, b)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return a
		}
		parent := filepath.Dir(a)
		if parent == a {
			return a
		}
		a = parent
	}
}

// withoutSecrets leaves out the Secrets: the printed YAML never holds a
// --set-secret value, and applying it cannot overwrite a Secret created by
// hand with empty values.
func withoutSecrets(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	return slices.DeleteFunc(objs, func(u *unstructured.Unstructured) bool { return u.GetKind() == "Secret" })
}

// printObjects writes the objects as one YAML stream (keys sorted).
func printObjects(w io.Writer, objs []*unstructured.Unstructured) error {
	for _, u := range objs {
		data, err := yaml.Marshal(u.Object)
		if err != nil {
			return fmt.Errorf("%s: %w", job.RefOf(u), err)
		}
		if _, err := fmt.Fprintf(w, "---\n%s", data); err != nil {
			return err
		}
	}
	return nil
}

// createObjects creates objs in order. If one fails, those already
// created are deleted again (newest first) and the error names the one
// that failed.
func createObjects(ctx context.Context, client *kube.Client, name string, objs []*unstructured.Unstructured, log io.Writer) error {
	var created []result.ObjectRef
	for _, u := range objs {
		m, err := client.Mapping(ctx, u.GroupVersionKind())
		if err == nil {
			_, err = client.Dynamic().Resource(m.Resource).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{FieldManager: "runner"})
		}
		if err != nil {
			if apierrors.IsAlreadyExists(err) {
				err = fmt.Errorf("%w (give --name, or runner job delete %s -n %s first)", err, name, u.GetNamespace())
			}
			err = fmt.Errorf("creating %s: %w", job.RefOf(u), err)
			// Undo, even after Ctrl-C, within a bound.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			for i := len(created) - 1; i >= 0; i-- {
				d := kube.Delete(uctx, client.Dynamic(), created[i:i+1], kube.DeleteOptions{})
				err = errors.Join(append([]error{err}, d.Errs...)...)
			}
			return err
		}
		fmt.Fprintf(log, "created %s\n", job.RefOf(u))
		r := job.RefOf(u)
		created = append(created, result.ObjectRef{APIVersion: r.APIVersion, Kind: r.Kind, Resource: m.Resource.Resource, Namespace: r.Namespace, Name: r.Name})
	}
	return nil
}

func newJobFetchCommand(streams Streams) *cobra.Command {
	var c clusterOptions
	var dir string
	var follow bool
	cmd := &cobra.Command{
		Use:   "fetch NAME --report-dir DIR",
		Short: "Read the results of a runner job and merge them into one report",
		Long: `fetch reads the results ConfigMaps (NAME-result-I) the job's pods wrote,
writes each shard's report.json into DIR/shard-I/ and the merged
report.json, junit.xml and report.html into DIR, and prints each shard's
outcome. --follow first waits for every shard to end, printing each pod's
progress and each plan's outcome as results arrive.

Exit code: 0 every shard passed; 3 a pod exited 3 (the cluster refused or
could not be reached from the pod); 1 otherwise, also when a shard is still
running (without --follow) or ended without results.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("%w: --report-dir is required", ErrUsage)
			}
			client, err := c.client(cmd.Context())
			if err != nil {
				return err
			}
			return fetchJob(cmd.Context(), streams, client.Dynamic(), c.namespace, args[0], dir, follow)
		},
	}
	c.addFlags(cmd)
	cmd.Flags().StringVar(&dir, "report-dir", "", "folder for the merged report and each shard's (required)")
	cmd.Flags().BoolVar(&follow, "follow", false, "wait until every shard ended, showing the pods' progress")
	return cmd
}

// followHeartbeat is how often --follow reads the job's state when no
// change was seen (a lost watch event, a pod's status left unchanged).
const followHeartbeat = time.Minute

// fetchJob reads (with follow: until it ended, again after each change)
// the job's state and results, writes the reports and returns the error
// of its outcome.
func fetchJob(ctx context.Context, streams Streams, dyn dynamic.Interface, namespace, name, dir string, follow bool) error {
	var changes <-chan struct{}
	if follow {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		changes = job.Changes(wctx, dyn, namespace, name)
	}
	var prev, st *job.Status
	for {
		var err error
		st, err = job.Read(ctx, dyn, namespace, name)
		if err != nil {
			return err
		}
		if follow {
			printProgress(streams.Err, prev, st)
		}
		prev = st
		if !follow || st.Done() {
			break
		}
		select {
		case <-ctx.Done():
			return ErrInterrupted
		case <-changes:
			// Let a burst of changes (a pod's status, then its
			// results) settle into one read.
			time.Sleep(100 * time.Millisecond)
		case <-time.After(followHeartbeat):
		}
	}
	var inputs []report.Input
	n := len(st.Shards)
	for _, sh := range st.Shards {
		what := fmt.Sprintf("shard %d/%d", sh.Index+1, n)
		state := sh.Outcome().String()
		if sh.Pod != "" {
			state += fmt.Sprintf(" (pod %s %s", sh.Pod, sh.Phase)
			if sh.Exit != nil {
				state += fmt.Sprintf(", exit %d", *sh.Exit)
			}
			if sh.Reason != "" {
				state += ", " + sh.Reason
			}
			state += ")"
		}
		switch {
		case sh.Report != nil:
			sub := filepath.Join(dir, fmt.Sprintf("shard-%d", sh.Index+1))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return fmt.Errorf("--report-dir: %w", err)
			}
			p := filepath.Join(sub, report.JSONFile)
			if err := os.WriteFile(p, sh.Report, 0o644); err != nil {
				return fmt.Errorf("--report-dir: %w", err)
			}
			in, err := readInputs([]string{p})
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			inputs = append(inputs, in...)
		case sh.Published:
			state += ": no report"
		default:
			state += ": no results yet"
		}
		if sh.Error != "" {
			state += ": " + sh.Error
		}
		if sh.Truncated != "" {
			state += " (report truncated: " + sh.Truncated + ")"
		}
		fmt.Fprintf(streams.Out, "%s: %s\n", what, state)
	}
	if st.Finished {
		fmt.Fprintf(streams.Out, "job %s/%s: %s\n", namespace, name, strings.TrimSpace(st.Condition))
	}
	if len(inputs) > 0 {
		merged, err := report.Merge(inputs, report.MergeOptions{})
		if err != nil {
			return fmt.Errorf("merging the shards' reports: %w", err)
		}
		paths, err := report.WriteDir(dir, merged, streams.Secrets)
		for _, p := range paths {
			fmt.Fprintf(streams.Err, "report: %s\n", p)
		}
		if err != nil {
			return fmt.Errorf("--report-dir: %w", err)
		}
		fmt.Fprintf(streams.Out, "merged %d of %d shard report(s): %d cell(s), %s\n", len(inputs), n, len(merged.Plans), merged.Outcome)
	}
	switch st.Outcome() {
	case job.Passed:
		if len(inputs) < n {
			fmt.Fprintf(streams.Err, "%d of %d shards have no report\n", n-len(inputs), n)
			return fmt.Errorf("%w: %d of %d shards have no report", ErrFailed, n-len(inputs), n)
		}
		return nil
	case job.Running:
		fmt.Fprintf(streams.Err, "job %s is still running (runner job fetch %s --follow waits for it)\n", name, name)
		return fmt.Errorf("%w: job %s is still running", ErrFailed, name)
	case job.Refused:
		// Both exit 3; say which, when the pod published why.
		for _, sh := range st.Shards {
			if sh.Outcome() == job.Refused && strings.Contains(sh.Error, ErrPreflight.Error()) {
				return fmt.Errorf("%w in a pod of job %s (shard %d/%d exited 3)", ErrPreflight, name, sh.Index+1, n)
			}
		}
		return fmt.Errorf("%w: a pod of job %s exited 3: the runner in it could not reach the API server, or its preflight refused the run", kube.ErrUnreachable, name)
	}
	return fmt.Errorf("%w: job %s", ErrFailed, name)
}

// printProgress prints what changed since prev: a pod's phase, exit code
// or reason, and the plans of a newly published report.
func printProgress(w io.Writer, prev, cur *job.Status) {
	n := len(cur.Shards)
	for i, sh := range cur.Shards {
		var was job.Shard
		if prev != nil && i < len(prev.Shards) {
			was = prev.Shards[i]
		}
		what := fmt.Sprintf("shard %d/%d", i+1, n)
		if sh.Pod != was.Pod || sh.Phase != was.Phase || sh.Reason != was.Reason || (sh.Exit != nil) != (was.Exit != nil) {
			line := fmt.Sprintf("%s: pod %s %s", what, sh.Pod, sh.Phase)
			if sh.Pod == "" {
				line = what + ": no pod yet"
			}
			if sh.Exit != nil {
				line += fmt.Sprintf(" (exit %d)", *sh.Exit)
			}
			if sh.Reason != "" {
				line += " " + sh.Reason
			}
			fmt.Fprintln(w, line)
		}
		if sh.Published && !was.Published {
			fmt.Fprintf(w, "%s: results published (%s)\n", what, cmpString(sh.ReportOutcome, "no report: "+sh.Error))
			var r struct {
				Plans []struct {
					ID              string  `json:"id"`
					Outcome         string  `json:"outcome"`
					DurationSeconds float64 `json:"durationSeconds"`
					Error           string  `json:"error"`
				} `json:"plans"`
			}
			if json.Unmarshal(sh.Report, &r) == nil {
				for _, p := range r.Plans {
					line := fmt.Sprintf("%s: %s %s in %s", what, p.ID, p.Outcome, result.FormatSeconds(p.DurationSeconds))
					if p.Error != "" {
						line += ": " + p.Error
					}
					fmt.Fprintln(w, line)
				}
			}
		}
	}
}

func cmpString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func newJobDeleteCommand(streams Streams) *cobra.Command {
	var c clusterOptions
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete everything runner job made for NAME: Job, pods, results, ConfigMap, ServiceAccount and RBAC",
		Long: `delete removes the Job (its pods first), the results ConfigMaps, then what the
plans ConfigMap lists as made by runner job (its RBAC, ServiceAccount and
itself, cluster-scoped roles included), and waits until they are gone.
Objects already gone are fine; exit 1 when something could not be deleted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := c.client(cmd.Context())
			if err != nil {
				return err
			}
			return deleteJob(cmd.Context(), streams, client, c.namespace, args[0])
		},
	}
	c.addFlags(cmd)
	return cmd
}

func deleteJob(ctx context.Context, streams Streams, client *kube.Client, namespace, name string) error {
	refs, err := job.Objects(ctx, client.Dynamic(), namespace, name)
	if err != nil {
		return err
	}
	conv := make([]result.ObjectRef, len(refs))
	for i, r := range refs {
		conv[i] = result.ObjectRef{APIVersion: r.APIVersion, Kind: r.Kind, Resource: r.Resource, Namespace: r.Namespace, Name: r.Name}
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// The Job first (foreground: its pods go with it), so that it makes no
	// new pod; then everything else.
	first := kube.Delete(dctx, client.Dynamic(), conv[:1], kube.DeleteOptions{Wait: true})
	rest := kube.Delete(dctx, client.Dynamic(), conv[1:], kube.DeleteOptions{Wait: true})
	deleted := append(first.Deleted, rest.Deleted...)
	slices.SortStableFunc(deleted[min(1, len(first.Deleted)):], func(a, b result.ObjectRef) int { return strings.Compare(a.String(), b.String()) })
	for _, r := range deleted {
		fmt.Fprintf(streams.Out, "deleted %s\n", r)
	}
	errs := append(first.Errs, rest.Errs...)
	if len(errs) > 0 {
		return fmt.Errorf("job %s: %w", name, errors.Join(errs...))
	}
	if len(deleted) == 0 {
		fmt.Fprintf(streams.Out, "nothing of job %s in namespace %s\n", name, namespace)
	}
	return nil
}
