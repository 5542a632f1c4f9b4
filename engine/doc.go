// Package engine loads, validates and runs scenario plans.
//
// Load reads a plan file, decodes it strictly (every error with file, line
// and column, all of them collected), and compiles every expression against
// a typed scope, so that running a plan never meets a syntax error. The step
// kinds live in package steps and reach the engine through a Registry that
// the caller passes in; the engine knows none of them by name.
//
// Run executes a loaded plan against a cluster: each step under its own
// timeout, the whole under the plan's, and afterwards the cleanup of every
// object the plan created, in reverse order, even after a failure or an
// interrupt. The engine decides no exit codes and prints nothing; it returns
// a Result that callers render.
package engine
