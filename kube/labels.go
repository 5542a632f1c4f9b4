package kube

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// The marks a run leaves on the objects it creates, so that a run killed
// before its cleanup (SIGKILL, a lost machine) can still be cleaned up by
// `runner cleanup`, which finds them by label across every listable kind.
const (
	// RunLabel holds the run's id (result.Plan.RunID).
	RunLabel = "runner.io/run"
	// PlanLabel holds the plan's name, as a label value (PlanLabelValue).
	PlanLabel = "runner.io/plan"
	// SeqAnnotation holds the object's place in the run's order of
	// creation (1, 2, ...): `runner cleanup` deletes the highest first.
	SeqAnnotation = "runner.io/seq"
	// ChangedByLabel marks an object that existed before the run and that
	// the run changed; it holds the run's id. The annotation
	// RestoreAnnotation(id) holds the JSON merge patch that puts it back.
	ChangedByLabel = "runner.io/changed-by"
	// ChangedPlanLabel holds the plan's name on such an object.
	ChangedPlanLabel = "runner.io/changed-plan"
)

// RestoreAnnotation is the annotation holding the merge patch that undoes
// what run id changed on an object it did not create (engine.RestorePatch,
// the patch also removing the marks themselves), for `runner cleanup`.
func RestoreAnnotation(runID string) string { return "runner.io/restore-" + runID }

// NewRunID returns a new run id: the UTC start time and 6 random hex
// digits, e.g. 20261201-171833-a1b2c3, a valid label value that sorts by
// time.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// PlanLabelValue turns a plan's name into a label value: at most 63
// characters of [A-Za-z0-9-_.], starting and ending with a letter or digit
// (others become '-').
func PlanLabelValue(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	s := string(b)
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-_.")
}
