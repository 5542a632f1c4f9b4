// Package cli is runner's command line: it parses flags, loads and validates
// plans, connects to the cluster, runs plans, and prints results to stdout
// and logs to stderr. It returns typed errors; main alone turns them into
// exit codes (see ExitCode).
package cli
