// Package bench holds the module's performance benchmarks, each measured
// against a baseline in the same run; `make bench` (./bench/run) runs them
// and writes the ratios that BENCHMARKS.md records.
//
// The package has no API: everything is in bench_test.go, and
// bench/ratio turns the raw `go test -bench` output into the goal table.
package bench
