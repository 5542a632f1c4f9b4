// Package bench measures runner against the tools its users would pick
// instead (kubectl v1.37.2, chainsaw v0.2.15) and against a plain client-go
// loop, side by side on one local cluster, and renders what it measured
// (bench/results/<date>.json, the generated part of docs/benchmarks.md).
// The driver is bench/cmd/bench; `make bench` builds the tools and runs it.
//
// What is here: running a tool as a process and reading its wall time, CPU
// time and peak memory (proc.go); how busy the machine was with work that is
// not ours (host.go); the API server's request counters (metrics.go);
// statistics (stats.go); the files, plans and tests each tool is given
// (workloads.go); the results and their Markdown (results.go, render.go).
//
// What it must not do: be imported by runner's own packages, touch a cluster
// it was not given, or leave a process running: every tool runs in its own
// process group, is killed at its deadline, and dies with the driver.
package bench
