package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

type cleanupOptions struct {
	run, plan   string
	all, dryRun bool
	kubeconfig  string
	kubeContext string
	timeout     time.Duration
	qps         float32
	burst       int
}

// newCleanupCommand builds `runner cleanup`: delete what runs left behind,
// found by the labels every run puts on what it creates.
func newCleanupCommand(streams Streams) *cobra.Command {
	o := &cleanupOptions{}
	cmd := &cobra.Command{
		Use:   "cleanup (--run ID | --plan NAME | --all) [--dry-run]",
		Short: "Delete what runs left behind (a killed run, cleanup: never), found by their labels",
		Long: `cleanup finds, in every resource kind the cluster can list, the objects a run
created (label runner.io/run=ID, runner.io/plan=NAME) and deletes them newest
first (annotation runner.io/seq), each batch waited for until gone, with the
retries of a run's own cleanup; then it puts back the objects the runs changed
but did not create (label runner.io/changed-by, the merge patch in the
annotation runner.io/restore-<run id>). --dry-run only lists them.

A kind the identity may not list is named on stderr ("cannot list nodes
(forbidden): objects of this kind were not checked") and makes the exit
code 1, after everything else was done: what it holds is unknown.

Exit codes: 0 nothing left, 1 something could not be deleted or restored
or a kind could not be listed, 2 usage, 3 cluster unreachable,
130 interrupted.`,
		Example: `  runner cleanup --run 20261201-171833-a1b2c3 --dry-run
  runner cleanup --plan bi-scalability
  runner cleanup --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCleanup(cmd.Context(), o, streams)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.run, "run", "", "delete what the run with this id created (printed at its start and in its summary)")
	f.StringVar(&o.plan, "plan", "", "delete what every run of the plan with this name created")
	f.BoolVar(&o.all, "all", false, "delete what every run created")
	f.BoolVar(&o.dryRun, "dry-run", false, "list what would be deleted, delete nothing")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	f.StringVar(&o.kubeContext, "context", "", "kubeconfig context to use")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound on the whole cleanup")
	f.Float32Var(&o.qps, "qps", 200, "client queries per second to the API server (negative: no client-side limit)")
	f.IntVar(&o.burst, "burst", 400, "client burst to the API server")
	return cmd
}

// selectors are the label selectors of the objects o names: those the
// runs created, and those they changed.
func (o *cleanupOptions) selectors() (created, changed string, err error) {
	n := 0
	for _, set := range []bool{o.run != "", o.plan != "", o.all} {
		if set {
			n++
		}
	}
	if n != 1 {
		return "", "", fmt.Errorf("%w: give exactly one of --run ID, --plan NAME or --all (see runner cleanup --help)", ErrUsage)
	}
	switch {
	case o.run != "":
		return kube.RunLabel + "=" + o.run, kube.ChangedByLabel + "=" + o.run, nil
	case o.plan != "":
		v := kube.PlanLabelValue(o.plan)
		return kube.PlanLabel + "=" + v, kube.ChangedPlanLabel + "=" + v, nil
	}
	return kube.RunLabel, kube.ChangedByLabel, nil
}

func runCleanup(ctx context.Context, o *cleanupOptions, streams Streams) error {
	sel, changedSel, err := o.selectors()
	if err != nil {
		return err
	}
	cfg, ctxName, err := kube.Load(kube.Options{Kubeconfig: o.kubeconfig, Context: o.kubeContext, QPS: o.qps, Burst: o.burst})
	if err != nil {
		return err
	}
	cfg.WarningHandler = rest.NoWarnings{} // listing every kind meets deprecated ones (v1 Endpoints)
	client, err := kube.NewForConfig(cfg)
	if err != nil {
		return err
	}
	client.Context = ctxName
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = client.Check(cctx)
	cancel()
	if err != nil {
		if errors.Is(context.Cause(ctx), ErrInterrupted) {
			return ErrInterrupted
		}
		return err
	}
	ctx, cancel = context.WithTimeout(ctx, o.timeout)
	defer cancel()
	began := time.Now()
	found, errs := client.FindMarked(ctx, sel)
	changed, cerrs := client.FindMarked(ctx, changedSel)
	lines, unchecked := unlisted(append(errs, cerrs...))
	for _, l := range lines {
		fmt.Fprintf(streams.Err, "runner cleanup: %s\n", l)
	}
	// Whatever else happens, kinds that could not be listed make the
	// answer incomplete: exit 1, after doing what could be done.
	incomplete := func(err error) error {
		if err != nil || unchecked == 0 {
			return err
		}
		fmt.Fprintf(streams.Err, "runner cleanup: %d kind(s) or API group(s) could not be listed, their objects were not checked (exit 1): run it again with an identity allowed to list them\n", unchecked)
		return fmt.Errorf("%w: %d kind(s) not listed", ErrFailed, unchecked)
	}
	if o.dryRun {
		for _, m := range found {
			fmt.Fprintf(streams.Out, "would delete %s (run %s, seq %d)\n", m.Ref, m.RunID, m.Seq)
		}
		for _, m := range changed {
			fmt.Fprintf(streams.Out, "would restore %s (run %s): %s\n", m.Ref, m.RunID, m.Restore)
		}
		fmt.Fprintf(streams.Out, "%d object(s) match %s, %d to restore\n", len(found), sel, len(changed))
		return incomplete(nil)
	}
	var sum result.Cleanup
	retries := &kube.Retries{Allow: kube.WebhookDenied}
	for _, batch := range kube.DeletionBatches(found) {
		if ctx.Err() != nil {
			sum.Left = append(sum.Left, batch...)
			continue
		}
		d := kube.Delete(ctx, client.Dynamic(), batch, kube.DeleteOptions{Wait: true, Retries: retries})
		sum.Deleted = append(sum.Deleted, d.Deleted...)
		sum.Absent += len(d.Absent)
		sum.Left = append(sum.Left, d.Left...)
		for _, err := range d.Errs {
			sum.Errors = append(sum.Errors, err.Error())
		}
	}
	for _, m := range changed {
		if err := restoreMarked(ctx, client, m, retries); err != nil {
			sum.Changed = append(sum.Changed, m.Ref)
			sum.Errors = append(sum.Errors, fmt.Sprintf("restoring %s: %v", m.Ref, err))
		} else {
			sum.Restored = append(sum.Restored, m.Ref)
		}
	}
	sum.Retried, sum.LastRetried = retries.Count()
	fmt.Fprintf(streams.Out, "cleanup %s: deleted %d, absent %d, left %d, restored %d, not restored %d (%s)\n", sel, len(sum.Deleted), sum.Absent, len(sum.Left), len(sum.Restored), len(sum.Changed), result.FormatDuration(time.Since(began)))
	printLeft(streams.Out, o.run, &sum)
	for _, e := range sum.Errors {
		fmt.Fprintf(streams.Out, "    cleanup error: %s\n", e)
	}
	switch {
	case errors.Is(context.Cause(ctx), ErrInterrupted):
		return ErrInterrupted
	case len(sum.Left) > 0 || len(sum.Changed) > 0:
		return fmt.Errorf("%w: %d object(s) left, %d not restored", ErrFailed, len(sum.Left), len(sum.Changed))
	}
	return incomplete(nil)
}

// unlisted turns FindMarked's errors into one line each, a kind that
// could not be listed said once (cleanup lists twice: what runs created,
// what they changed), and counts those kinds (and the discovery errors,
// which leave whole groups unchecked): a forbidden one reads
// "cannot list nodes (forbidden): objects of this kind were not checked".
func unlisted(errs []error) (lines []string, kinds int) {
	seen := map[string]bool{}
	for _, err := range errs {
		var le *kube.ListError
		if !errors.As(err, &le) {
			if !seen[err.Error()] {
				seen[err.Error()] = true
				kinds++ // a discovery failure: whole groups unchecked
				lines = append(lines, err.Error())
			}
			continue
		}
		r := le.Resource.String()
		if seen[r] {
			continue
		}
		seen[r] = true
		kinds++
		why := "error: " + le.Err.Error()
		switch {
		case apierrors.IsForbidden(le.Err):
			why = "forbidden"
		case apierrors.IsUnauthorized(le.Err):
			why = "unauthorized"
		}
		lines = append(lines, fmt.Sprintf("cannot list %s (%s): objects of this kind were not checked", r, why))
	}
	return lines, kinds
}

// restoreMarked applies the restore record a run left on an object it
// changed (kube.RestoreAnnotation): a merge patch that puts back the fields
// and removes the record. An object without a record gets its marks
// removed. NotFound is success: the object is gone.
func restoreMarked(ctx context.Context, client *kube.Client, m kube.Marked, retries *kube.Retries) error {
	body := []byte(m.Restore)
	if m.Restore == "" || !json.Valid(body) {
		patch := map[string]any{"metadata": map[string]any{
			"labels":      map[string]any{kube.ChangedByLabel: nil, kube.ChangedPlanLabel: nil},
			"annotations": map[string]any{kube.RestoreAnnotation(m.RunID): nil},
		}}
		body, _ = json.Marshal(patch)
	}
	err := kube.Retry(ctx, retries, func(ctx context.Context) error {
		_, err := client.Dynamic().Resource(kube.GVR(m.Ref)).Namespace(m.Ref.Namespace).Patch(ctx, m.Ref.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "runner"})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
