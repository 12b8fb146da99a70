// Package bench holds the module's performance benchmarks, each measured
// against a baseline in the same run; `make bench` (scripts/bench) runs them
// and writes the ratios that BENCHMARKS.md records.
//
// The package has no API: everything is in bench_test.go, and
// internal/bench/ratio turns the raw `go test -bench` output into the goal table.
package bench
