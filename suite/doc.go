// Package suite turns plan files into the list of cells to run, without a
// cluster: it finds plans below folders (Discover), keeps the cells whose
// labels a selector matches (Select), estimates each cell's time from
// earlier reports (Timings) and packs the cells into shards that end
// together (Partition).
//
// Planning is a pure function: the same files, labels and timings give the
// same cells and the same shards on every machine, so each CI job of a
// matrix computes the partition on its own and runs exactly its share. The
// package loads no plan (the caller does, with package engine, and hands in
// Cells), runs nothing and prints nothing.
package suite
