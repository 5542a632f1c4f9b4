package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/scenario-runner/runner/job"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/report"
)

// The runner's side of runner job, in the pod: --job-shards picks the
// shard from the Job controller's JOB_COMPLETION_INDEX, --publish writes
// the report where runner job fetch reads it.

// jobIndex reads JOB_COMPLETION_INDEX (0 when unset: a pod of a Job that
// is not Indexed, or the runner run by hand).
func jobIndex() (int, error) {
	v := os.Getenv(job.EnvIndex)
	if v == "" {
		return 0, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return 0, fmt.Errorf("%w: $%s=%q: expected 0 or more", ErrUsage, job.EnvIndex, v)
	}
	return i, nil
}

// jobShard turns --job-shards N into --shard I+1/N.
func (o *runOptions) jobShard() error {
	if o.jobShards == 0 {
		return nil
	}
	if o.sel.shard != "" {
		return fmt.Errorf("%w: give --shard or --job-shards, not both", ErrUsage)
	}
	if o.jobShards < 0 {
		return fmt.Errorf("%w: --job-shards %d: give 1 or more", ErrUsage, o.jobShards)
	}
	i, err := jobIndex()
	if err != nil {
		return err
	}
	if i >= o.jobShards {
		return fmt.Errorf("%w: $%s=%d is not below --job-shards %d", ErrUsage, job.EnvIndex, i, o.jobShards)
	}
	o.sel.shard = fmt.Sprintf("%d/%d", i+1, o.jobShards)
	return nil
}

// publishResult writes the run's report.json (or, without one, runErr)
// into the results ConfigMap named by --publish. It never changes the
// exit code: a failure to publish is logged, and runner job fetch then
// says the shard ended without results.
func publishResult(ctx context.Context, o *runOptions, runErr error) {
	fail := func(err error) { fmt.Fprintf(o.streams.Err, "runner: --publish: %v\n", err) }
	ns, name, ok := strings.Cut(o.publish, "/")
	if !ok || ns == "" || name == "" {
		fail(fmt.Errorf("%q: expected NAMESPACE/JOB", o.publish))
		return
	}
	i, err := jobIndex()
	if err != nil {
		fail(err)
		return
	}
	var res job.Result
	if o.reportDir != "" {
		data, err := os.ReadFile(filepath.Join(o.reportDir, report.JSONFile))
		switch {
		case err == nil:
			res.Report = data
		case !errors.Is(err, os.ErrNotExist):
			fail(err)
		}
	}
	if res.Report == nil {
		res.Error = "the run wrote no report.json"
		if runErr != nil {
			res.Error = runErr.Error()
		}
	}
	client, err := kube.New(kube.Options{Kubeconfig: o.kubeconfig, Context: o.kubeContext})
	if err != nil {
		fail(err)
		return
	}
	// Publish even after an interrupt: the report is what the run was for.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	t := job.Target{Namespace: ns, Name: name, Index: i, JobUID: os.Getenv(job.EnvJobUID)}
	truncated, err := job.Publish(pctx, client.Dynamic(), t, res)
	if err != nil {
		fail(err)
		return
	}
	if truncated != "" {
		fmt.Fprintf(o.streams.Err, "runner: --publish: report truncated: %s\n", truncated)
	}
	fmt.Fprintf(o.streams.Err, "runner: published results to configmap %s/%s\n", ns, job.ResultName(name, i))
}
