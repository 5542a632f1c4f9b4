package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/redact"
	"github.com/scenario-runner/runner/result"
)

// RunOptions configures Run.
type RunOptions struct {
	Cluster  Cluster
	Log      zerolog.Logger
	Observer Observer
	// Cleanup overrides the plan's policy when set.
	Cleanup result.CleanupPolicy
	// Timeout overrides the plan's timeout when set.
	Timeout        time.Duration
	CleanupTimeout time.Duration
	DryRun         bool
	// Abort, when closed, stops a cleanup in progress (a second Ctrl-C):
	// what was not deleted yet is listed in the result as left behind.
	Abort <-chan struct{}
	// Server is the cluster's version, for the result.
	Server string
	// ReportDir, when set, is where a failed step's diagnostics are
	// written (under diagnostics/<cell id>/).
	ReportDir string
	// RunID names the run in the labels of what it creates; empty makes a
	// new one (kube.NewRunID).
	RunID string
	// AllowLocal lets steps of Local kinds run programs on this machine
	// (--allow-commands); without it such a step fails. The command line
	// refuses such a plan before it connects (Plan.RefuseLocal).
	AllowLocal bool
	// Redact is the run's redaction set: the values of its secret
	// variables, to which the Secrets it renders or reads are added; its
	// errors and messages mask them. Nil makes an empty one. Each run has
	// its own (runs side by side mask each their own secrets); it may
	// forward to the set of outputs the run shares (redact.New(up)).
	Redact *redact.Set
}

// Run executes p and then cleans up. It never panics on a step's failure and
// always returns a result; ctx's cancellation (Ctrl-C) marks the run
// interrupted and still cleans up, within CleanupTimeout.
func Run(ctx context.Context, p *Plan, o RunOptions) *result.Plan {
	res := &result.Plan{
		Name: p.Name, ID: p.ID, File: p.File, Labels: maps.Clone(p.Labels), Locks: slices.Clone(p.Locks), Cell: maps.Clone(p.Cell),
		Vars: maps.Clone(map[string]any(p.Vars)), Start: time.Now(), DryRun: o.DryRun, Server: o.Server, RunID: o.RunID,
	}
	if res.ID == "" {
		res.ID = p.Name
	}
	if res.RunID == "" {
		res.RunID = kube.NewRunID(res.Start)
	}
	policy := p.Cleanup
	if o.Cleanup != "" {
		policy = o.Cleanup
	}
	timeout := p.Timeout
	if o.Timeout > 0 {
		timeout = o.Timeout
	}
	cl := newCleaner()
	if o.Redact == nil {
		o.Redact = redact.New()
	}
	r := &run{vals: eval.Values(p.Vars).With(RunIDVar, res.RunID).WithRedact(o.Redact), observer: o.Observer, allowLocal: o.AllowLocal, redact: o.Redact}
	r.env = Env{Cluster: o.Cluster, Log: o.Log, Recorder: cl, Defaults: p.Defaults, DryRun: o.DryRun, RunID: res.RunID, Plan: p.Name, run: r}
	o.Log.Info().Str("plan", p.Name).Str("run", res.RunID).Msg("run id (labels runner.io/run on what it creates; runner cleanup --run " + res.RunID + " removes leftovers)")

	runCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("scenario timeout of %s reached", timeout))
		defer cancel()
	}
	res.Outcome = result.Passed
	besides := r.startBeside(runCtx, p)
	for i, s := range p.Steps {
		cl.setWave(i)
		if err := r.step(runCtx, s, &res.Steps); err != nil {
			last := res.Steps[len(res.Steps)-1]
			res.Outcome, res.Error = last.Outcome, fmt.Sprintf("step %q: %s", s.Name, last.Error)
			if last.Outcome != result.Interrupted {
				res.Diagnostics = r.collect(ctx, p, o, s, last, cl)
			}
			for _, rest := range p.Steps[i+1:] {
				res.Steps = append(res.Steps, &result.Step{Name: rest.Name, Kind: rest.Kind, Pos: rest.Pos.String(), Outcome: result.Skipped, Skip: "an earlier step failed"})
			}
			break
		}
	}
	r.endBeside(ctx, besides, res)
	if len(p.Finally) > 0 {
		r.finally(runCtx, p, o, res, cl)
	}

	res.Outputs = r.outputs(p)
	res.Cleanup = &result.Cleanup{Policy: policy, Start: time.Now()}
	if policy == result.CleanupAlways || (policy == result.CleanupOnSuccess && res.Outcome == result.Passed) {
		ct := o.CleanupTimeout
		if ct <= 0 {
			ct = DefaultCleanupTimeout
		}
		bctx, cancelBudget := context.WithTimeoutCause(context.WithoutCancel(ctx), ct, fmt.Errorf("cleanup budget of %s reached", ct))
		cctx, abort := context.WithCancelCause(bctx)
		cancel := func() { abort(nil); cancelBudget() }
		aborted := errors.New("a second interrupt")
		select {
		case <-o.Abort: // aborted before cleanup began
			abort(aborted)
		default:
		}
		stop := make(chan struct{})
		go func() {
			select {
			case <-o.Abort:
				abort(aborted)
			case <-stop:
			}
		}()
		if !o.DryRun {
			o.Log.Info().Str("policy", string(policy)).Msg("cleaning up")
			cl.run(cctx, o.Cluster, res.Cleanup, o.Log)
		}
		close(stop)
		cancel()
	} else {
		cl.kept(res.Cleanup)
	}
	res.Cleanup.End = time.Now()
	res.End = time.Now()
	return res
}

// besideRun is a plan-level block running along the steps.
type besideRun struct {
	res *result.Step
	end func(ctx context.Context) error
}

// startBeside starts the plan's Beside blocks (a measure) before its first
// step. Each gets a result step of its own, listed after the steps.
func (r *run) startBeside(ctx context.Context, p *Plan) []besideRun {
	var out []besideRun
	for _, s := range p.Beside {
		sr := &result.Step{Name: s.Name, Kind: s.Kind, Pos: s.Pos.String(), Start: time.Now()}
		env := r.env
		env.Result = sr
		env.Log = r.env.Log.With().Str("step", s.Name).Logger()
		var end func(context.Context) error
		func() {
			defer func() {
				if p := recover(); p != nil {
					end = func(context.Context) error { return fmt.Errorf("internal error (panic): %v", p) }
				}
			}()
			end = s.Action.(Besider).Beside(ctx, &env)
		}()
		out = append(out, besideRun{res: sr, end: end})
	}
	return out
}

// endBeside ends the Beside blocks after the steps and adds their results;
// an error fails a plan that had passed.
func (r *run) endBeside(ctx context.Context, runs []besideRun, res *result.Plan) {
	for _, b := range runs {
		err := b.end(ctx)
		b.res.End = time.Now()
		b.res.Outcome = result.Passed
		if err != nil {
			b.res.Outcome, b.res.Error = result.Failed, r.redact.String(err.Error())
			if res.Outcome == result.Passed {
				res.Outcome, res.Error = result.Failed, fmt.Sprintf("%s: %s", b.res.Name, b.res.Error)
			}
		}
		res.Steps = append(res.Steps, b.res)
		if r.observer != nil {
			r.observer.StepFinished(b.res)
		}
	}
}

// finally runs the plan's finally steps, whatever happened before: under
// the plan's context while it lasts, and after an interrupt or the plan's
// timeout under the cleanup budget. A failing finally step fails a plan
// that had passed; every finally step runs.
func (r *run) finally(ctx context.Context, p *Plan, o RunOptions, res *result.Plan, cl *cleaner) {
	fctx := ctx
	if ctx.Err() != nil || res.Outcome == result.Interrupted || res.Outcome == result.TimedOut {
		ct := o.CleanupTimeout
		if ct <= 0 {
			ct = DefaultCleanupTimeout
		}
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeoutCause(context.WithoutCancel(ctx), ct, fmt.Errorf("cleanup budget of %s reached", ct))
		defer cancel()
	}
	cl.setWave(len(p.Steps))
	for _, s := range p.Finally {
		if err := r.step(fctx, s, &res.Steps); err != nil && res.Outcome == result.Passed {
			last := res.Steps[len(res.Steps)-1]
			res.Outcome, res.Error = last.Outcome, fmt.Sprintf("finally step %q: %s", s.Name, last.Error)
		}
	}
}

// outputs are the values the steps bound (everything but the vars).
func (r *run) outputs(p *Plan) map[string]any {
	out := map[string]any{}
	for k, v := range r.values() {
		if !slices.Contains(p.VarNames, k) && k != RunIDVar && !strings.HasPrefix(k, "$") {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// step runs one step under its own timeout and records its result in list.
func (r *run) step(ctx context.Context, s *Step, list *[]*result.Step) error {
	sr := &result.Step{Name: s.Name, Kind: s.Kind, Pos: s.Pos.String(), Start: time.Now()}
	*list = append(*list, sr)
	if r.observer != nil {
		r.observer.StepStarted(sr)
	}
	if s.If != nil {
		run, err := s.If.Bool(r.values())
		if err != nil {
			sr.End, sr.Outcome, sr.Error = time.Now(), result.Failed, "if: "+err.Error()
			if r.observer != nil {
				r.observer.StepFinished(sr)
			}
			return fmt.Errorf("step %q: %w", s.Name, err)
		}
		if !run {
			sr.End, sr.Outcome, sr.Skip = time.Now(), result.Skipped, "if: "+strings.TrimSpace(s.If.Source)
			if r.observer != nil {
				r.observer.StepFinished(sr)
			}
			return nil
		}
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = r.env.Defaults.Timeout
	}
	sctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("step timeout of %s reached", timeout))
	defer cancel()
	env := r.env
	env.Result = sr
	env.Log = r.env.Log.With().Str("step", s.Name).Logger()

	if s.Local && !r.allowLocal && !env.DryRun {
		sr.End, sr.Outcome = time.Now(), result.Failed
		sr.Error = "this step runs a program on this machine: run with --allow-commands"
		if r.observer != nil {
			r.observer.StepFinished(sr)
		}
		return fmt.Errorf("step %q: %s", s.Name, sr.Error)
	}
	if o, ok := s.Action.(Observing); ok && env.DryRun && o.Observing() {
		sr.End, sr.Outcome = time.Now(), result.Skipped
		sr.Skip = "dry run"
		if r.observer != nil {
			r.observer.StepFinished(sr)
		}
		return nil
	}
	err := runAction(sctx, s.Action, &env)
	if s.Expect != nil && ctx.Err() == nil && sctx.Err() == nil {
		err = s.Expect.check(err)
	}
	sr.End = time.Now()
	switch {
	case err == nil:
		sr.Outcome = result.Passed
	case errors.Is(ctx.Err(), context.Canceled):
		sr.Outcome = result.Interrupted
		sr.Error = describe(err, ctx, timeout)
	case ctx.Err() != nil || sctx.Err() != nil:
		sr.Outcome = result.TimedOut
		sr.Error = describe(err, sctx, timeout)
	default:
		sr.Outcome = result.Failed
		sr.Error = err.Error()
	}
	// The run's own secrets leave no step's message, whatever prints or
	// writes it later (see package redact).
	sr.Error = r.redact.String(sr.Error)
	if r.observer != nil {
		r.observer.StepFinished(sr)
	}
	if err != nil {
		return fmt.Errorf("step %q: %w", s.Name, err)
	}
	return nil
}

// runAction turns a panic in a step kind into an error rather than a crash
// that would skip cleanup.
func runAction(ctx context.Context, a Action, env *Env) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error (panic): %v", p)
		}
	}()
	return a.Run(ctx, env)
}

// describe words the error of a step that ended with its context: never a
// bare "context deadline exceeded" when the step said more.
func describe(err error, ctx context.Context, timeout time.Duration) string {
	msg := err.Error()
	bare := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	cause := context.Cause(ctx)
	if errors.Is(ctx.Err(), context.Canceled) {
		if bare {
			return "interrupted"
		}
		return "interrupted: " + msg
	}
	prefix := fmt.Sprintf("timed out after %s", timeout)
	if cause != nil && !errors.Is(cause, context.DeadlineExceeded) {
		prefix = cause.Error()
	}
	if bare && (strings.HasSuffix(msg, "context deadline exceeded") || strings.HasSuffix(msg, "context canceled")) {
		msg = strings.TrimSuffix(strings.TrimSuffix(msg, "context deadline exceeded"), "context canceled")
		msg = strings.TrimRight(msg, ": ")
		if msg == "" {
			return prefix
		}
	}
	return prefix + ": " + msg
}
