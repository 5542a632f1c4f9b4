package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/redact"
	"github.com/scenario-runner/runner/report"
	"github.com/scenario-runner/runner/result"
	"github.com/scenario-runner/runner/steps"
)

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
	// Secrets is what Out and Err mask: the secrets of every plan of the
	// invocation, which all print there (each run masks its own in its
	// messages; see redact.New). Execute makes it and wraps Out and Err.
	Secrets *redact.Set
}

// redacted returns s with a set of secrets of its own and Out and Err
// filtered through it, unless it has one already.
func (s Streams) redacted() Streams {
	if s.Secrets != nil {
		return s
	}
	s.Secrets = redact.New()
	s.Out, s.Err = s.Secrets.Writer(s.Out), s.Secrets.Writer(s.Err)
	return s
}

// Version is runner's version, set at build time with
// -ldflags "-X github.com/scenario-runner/runner/cli.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Execute runs the command line args. SIGINT and SIGTERM cancel the run; a
// second one during cleanup stops the cleanup and reports what was left.
func Execute(args []string, streams Streams) error {
	// Every byte runner prints goes through the invocation's secret filter.
	streams = streams.redacted()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	abort := make(chan struct{})
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for n := 0; ; n++ {
			select {
			case <-sigs:
			case <-ctx.Done():
				if n == 0 && !errors.Is(context.Cause(ctx), ErrInterrupted) {
					return
				}
				<-sigs
			}
			switch n {
			case 0:
				fmt.Fprintln(streams.Err, "interrupted: stopping the run and cleaning up (Ctrl-C again to stop cleanup)")
				cancel(ErrInterrupted)
			case 1:
				fmt.Fprintln(streams.Err, "interrupted again: stopping cleanup")
				close(abort)
				return
			}
		}
	}()
	cmd := NewRootCommand(ctx, streams, abort)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	reportError(streams.Err, err)
	return err
}

// reportError prints what the user has not been told yet: invalid plans are
// already rendered with their carets, and failed or interrupted runs have
// their summary on stdout.
func reportError(w io.Writer, err error) {
	switch {
	case err == nil, errors.Is(err, engine.ErrInvalid), errors.Is(err, ErrFailed), errors.Is(err, ErrInterrupted):
		return
	}
	fmt.Fprintf(w, "runner: %v\n", err)
}

// NewRootCommand builds the runner command tree.
func NewRootCommand(ctx context.Context, streams Streams, abort <-chan struct{}) *cobra.Command {
	streams = streams.redacted()
	opts := &runOptions{streams: streams, abort: abort}
	opts.in.secrets = streams.Secrets
	root := &cobra.Command{
		Use:   "runner [flags] PLAN|FOLDER...",
		Short: "Run declarative Kubernetes test scenarios",
		Long: `runner runs scenario plans: YAML files that apply manifests, scale workloads,
wait for conditions over many objects, time actions and assert on the times.
Plans are validated completely before anything touches the cluster.

Exit codes: 0 passed, 1 a scenario failed, 2 invalid plan or usage,
3 cluster unreachable or unauthorized, 130 interrupted.`,
		Example: `  runner scenarios/bi-scalability.yaml
  runner --set replicas=5 --set attachBudget=30s scenarios/bi-scalability.yaml
  runner validate scenarios/
  runner --selector tier=nightly --parallel 4 --report-dir out scenarios/
  runner --shard 2/4 --timings last/report.json scenarios/`,
		Args:          cobra.MinimumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			err := runPlans(cmd.Context(), opts, args)
			if opts.publish != "" {
				publishResult(cmd.Context(), opts, err)
			}
			return err
		},
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %v (see %s --help)", ErrUsage, err, c.CommandPath())
	})
	opts.addFlags(root)
	root.AddCommand(newValidateCommand(streams), newListCommand(streams), newReportCommand(streams), newSchemaCommand(streams), newVersionCommand(streams), newSimCommand(), newCleanupCommand(streams), newRBACCommand(streams), newJobCommand(streams, derivedRBAC))
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	wrapArgs(root)
	return root
}

// wrapArgs marks argument-count errors as usage errors.
func wrapArgs(c *cobra.Command) {
	if c.Args == nil {
		return
	}
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return fmt.Errorf("%w: %v (see %s --help)", ErrUsage, err, cmd.CommandPath())
		}
		return nil
	}
}

func newSchemaCommand(streams Streams) *cobra.Command {
	var ofReport bool
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the plan format (--report: of report.json)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			s, err := engine.Schema(steps.Kinds())
			if ofReport {
				s, err = report.Schema(steps.Kinds().Details())
			}
			if err != nil {
				return err
			}
			_, err = streams.Out.Write(s)
			return err
		},
	}
	cmd.Flags().BoolVar(&ofReport, "report", false, "print the schema of report.json instead")
	return cmd
}

func newVersionCommand(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print runner's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(streams.Out, "runner %s\n", version())
			return err
		},
	}
}

// newLogger builds the zerolog logger for stderr: pretty on a terminal,
// JSON lines with --log-format json.
func newLogger(w io.Writer, format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", ErrUsage, level)
	}
	switch format {
	case "json":
		return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
	case "console":
		return zerolog.New(consoleWriter(w, !isTerminal(w))).Level(lvl).With().Timestamp().Logger(), nil
	}
	return zerolog.Logger{}, fmt.Errorf("%w: --log-format %q: use console or json", ErrUsage, format)
}

// consoleWriter is the human log format. A duration field ("took") is a
// number of milliseconds in JSON, for programs; on the console it is written
// as the summary writes durations ("took=2.31s", not "took=2312.571167").
func consoleWriter(w io.Writer, noColor bool) zerolog.ConsoleWriter {
	return zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: noColor,
		FormatPrepare: func(fields map[string]any) error {
			// The writer decodes each line with UseNumber.
			if n, ok := fields["took"].(json.Number); ok {
				if ms, err := n.Float64(); err == nil {
					fields["took"] = result.FormatDuration(time.Duration(ms * float64(time.Millisecond)))
				}
			}
			return nil
		}}
}
