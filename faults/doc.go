// Package faults holds fault-injection tests of runner on the local
// cluster: SIGINT at random points of an apply, SIGKILL then `runner
// cleanup --run`, an invalid object in a forEach, the API server killed
// during cleanup and during a wait, a second Ctrl-C during cleanup. Each
// test is named after the failure it guards against and runs the runner
// binary, built once per test binary, as a user would.
//
// The number of random trials is FAULT_TRIALS (default 3, `make soak`
// raises it). The package has no code besides its tests and must not be
// imported.
package faults
