package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/scenario-runner/runner/redact"

	"github.com/rs/zerolog"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/report"
	"github.com/scenario-runner/runner/result"
)

// stoppableObserver is an engine.Observer with background work (redraws,
// heartbeats) that Stop ends; Stop may be called more than once.
type stoppableObserver interface {
	engine.Observer
	Stop()
}

// newObserver picks how steps are shown while they run: a live progress line
// on a terminal with console logs, log lines otherwise (and always with
// --log-format json, which then writes JSON lines only). It returns the
// logger to use from now on: on a terminal, log lines go through the live
// line so that the two do not garble each other.
func newObserver(o *runOptions, log zerolog.Logger) (stoppableObserver, zerolog.Logger) {
	tty := isTerminal(o.streams.Err)
	if tty && o.logFormat == "console" {
		live := newLiveProgress(o.streams.Err, time.Now, terminalWidth(o.streams.Err))
		live.Start()
		return live, liveLogger(log, live)
	}
	lo := newLogObserver(log, tty)
	lo.Start()
	return lo, log
}

// writeReport writes report.json, junit.xml and report.html of results into
// --report-dir and lists their paths on stderr. A report that cannot be
// written fails the command.
func writeReport(o *runOptions, paths []string, meta map[string]string, results []*result.Plan, client *kube.Client, server string) error {
	var args []string
	if o.in.root != "" {
		args = append(args, "--root", o.in.root)
	}
	for _, v := range o.in.valuesFiles {
		args = append(args, "--values", v)
	}
	for _, s := range o.in.sets {
		args = append(args, "--set", s)
	}
	for _, s := range o.in.secretSets {
		name, _, _ := strings.Cut(s, "=")
		args = append(args, "--set-secret", name+"="+redact.Mask)
	}
	for _, f := range []struct{ name, value string }{{"--selector", o.sel.selector}, {"--shard", o.sel.shard}, {"--rerun-failed", o.sel.rerunFailed}} {
		if f.value != "" {
			args = append(args, f.name, f.value)
		}
	}
	for _, t := range o.sel.timings {
		args = append(args, "--timings", t)
	}
	for _, c := range o.sel.cells {
		args = append(args, "--cell", c)
	}
	if o.parallel > 1 {
		args = append(args, "--parallel", fmt.Sprint(o.parallel))
	}
	for _, m := range o.meta {
		args = append(args, "--meta", m)
	}
	args = append(args, paths...)
	m := report.Meta{RunnerVersion: version(), Args: args, Labels: meta, Shard: o.sel.shard}
	if client != nil {
		m.ClusterHost, m.ClusterContext = client.Config.Host, client.Context
	}
	rep := report.New(results, m)
	if rep.Cluster.Version == "" {
		rep.Cluster.Version = server
	}
	// One file holds every plan: it masks the secrets of all of them, as
	// the terminal does.
	paths, err := report.WriteDir(o.reportDir, rep, o.in.secrets)
	if o.logFormat == "json" { // every line on stderr is JSON
		log, _ := newLogger(o.streams.Err, o.logFormat, o.logLevel)
		for _, p := range paths {
			log.Info().Str("path", p).Msg("report")
		}
		if err != nil {
			log.Error().Err(err).Msg("report")
		}
	} else {
		for _, p := range paths {
			fmt.Fprintf(o.streams.Err, "report: %s\n", p)
		}
		if err != nil {
			fmt.Fprintf(o.streams.Err, "report: %v\n", err)
		}
	}
	if err != nil {
		return fmt.Errorf("--report-dir: %w", err)
	}
	return nil
}
