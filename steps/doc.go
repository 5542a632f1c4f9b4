// Package steps holds the step kinds of a plan, one file per kind, each a
// Spec (its YAML shape, decoded by engine/decode from struct tags) whose
// Build compiles it into an engine.Action. Kinds returns them all; adding a
// kind means one new file and one line there.
//
// Steps reach the cluster only through engine.Cluster and report what they
// created or changed to env.Recorder, so cleanup can undo it.
package steps
