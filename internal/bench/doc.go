// Package bench holds the module's performance benchmarks, each measured
// against a baseline in the same run. `make bench` (scripts/bench) runs
// them, and internal/bench/ratio turns their raw output into the goal table
// that BENCHMARKS.md records. The scale benchmark lives beside the server it
// measures (atlastest.BenchmarkDelete).
//
// The package has no API. The benchmarks are in bench_test.go, and
// oneshot/ours and oneshot/peer are the programs that the process
// benchmarks run. Nothing asserts on time: a benchmark fails only when a
// delete does not get the answer it should.
package bench
