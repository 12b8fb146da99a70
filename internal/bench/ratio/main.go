// Command ratio reads raw `go test -bench` output (as written by
// scripts/bench) and prints the BENCHMARKS.md goal table: for each figure
// the median of ours, the median of its baseline from the same run, their
// ratio, the goal and whether it is met.
//
//	go run ./internal/bench/ratio internal/bench/out/results.txt
package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// samples maps "name unit" to every value seen, name without the
// Benchmark prefix and the -GOMAXPROCS suffix.
type samples map[string][]float64

var procsSuffix = regexp.MustCompile(`-\d+$`)

func read(r io.Reader, file string) (samples, error) {
	s := samples{}
	br := benchfmt.NewReader(r, file)
	for br.Scan() {
		res, ok := br.Result().(*benchfmt.Result)
		if !ok {
			continue // unit metadata, syntax errors in non-benchmark lines
		}
		name := procsSuffix.ReplaceAllString(strings.TrimPrefix(res.Name.String(), "Benchmark"), "")
		for _, v := range res.Values {
			unit, val := v.Unit, v.Value
			if v.OrigUnit != "" { // keep ns/op as ns/op, not tidied to sec/op
				unit, val = v.OrigUnit, v.OrigValue
			}
			s[name+" "+unit] = append(s[name+" "+unit], val)
		}
	}
	return s, br.Err()
}

// median is the median of a benchmark's values in unit; for failed/op and
// failed/run it is the highest value instead: one round with failures is a
// miss.
func (s samples) median(name, unit string) (float64, bool) {
	vs := slices.Clone(s[name+" "+unit])
	if len(vs) == 0 {
		return 0, false
	}
	if strings.HasPrefix(unit, "failed/") {
		return slices.Max(vs), true
	}
	slices.Sort(vs)
	m := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		m = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return m, true
}

// figure is one row of the table. With base set, ratio = ours/base; the
// goal applies to the ratio, or to ours when onOurs is set or there is no
// baseline.
type figure struct {
	label      string
	unit       string
	ours, base string
	goal       string
	ok         func(v float64) bool // nil: reported, no goal
	onOurs     bool
}

func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }
func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
func exactly(x float64) func(float64) bool { return func(v float64) bool { return v == x } }

var figures = []figure{
	{"1 digest requests/delete, concurrency 1: ours vs mongodb-forks/digest", "req/op",
		"DigestRoundTrips/impl=authedit/conc=1", "DigestRoundTrips/impl=mongodb-forks/conc=1", "ours ≤ 1.01", atMost(1.01), true},
	{"1 digest requests/delete, concurrency 32: ours vs mongodb-forks/digest", "req/op",
		"DigestRoundTrips/impl=authedit/conc=32", "DigestRoundTrips/impl=mongodb-forks/conc=32", "ours ≤ 1.01", atMost(1.01), true},
	{"1 digest deletes that failed, concurrency 1: ours vs mongodb-forks/digest", "failed/op",
		"DigestRoundTrips/impl=authedit/conc=1", "DigestRoundTrips/impl=mongodb-forks/conc=1", "ours 0", exactly(0), true},
	{"1 digest deletes that failed, concurrency 32: ours vs mongodb-forks/digest", "failed/op",
		"DigestRoundTrips/impl=authedit/conc=32", "DigestRoundTrips/impl=mongodb-forks/conc=32", "ours 0", exactly(0), true},
	{"2 service account: token requests per 10,000 deletes, concurrency 64", "tokens/10k-deletes",
		"ServiceAccountTokens/conc=64", "", "exactly 1", exactly(1), false},
	{"3 reference server deletes/s, bearer: atlastest / bare 204 handler", "deletes/s",
		"ServerThroughput/scheme=bearer/server=atlastest", "ServerThroughput/scheme=bearer/server=bare", "ratio ≥ 0.4", atLeast(0.4), false},
	{"3 reference server deletes/s, digest: atlastest / bare 204 handler", "deletes/s",
		"ServerThroughput/scheme=digest/server=atlastest", "ServerThroughput/scheme=digest/server=bare", "ratio ≥ 0.4", atLeast(0.4), false},
	{"3 deletes that failed, digest, concurrency 16: atlastest vs bare 204 handler", "failed/op",
		"ServerThroughput/scheme=digest/server=atlastest", "ServerThroughput/scheme=digest/server=bare", "0", exactly(0), true},
	{"4 scale: time/delete at 10^6 keys / at 10^3 keys", "ns/op",
		"Delete/keys=1000000", "Delete/keys=1000", "ratio ≤ 1.2", atMost(1.2), false},
	{"5 go generate ./... wall time, warm module cache", "ns/op",
		"GoGenerate", "", "reported", nil, false},
	{"6 token requests, 100 processes in turn: file token store vs none", "tokens/run",
		"TokensAcrossProcesses/store=file", "TokensAcrossProcesses/store=none", "ours 1", exactly(1), true},
	{"6 processes that failed, of the 100: file token store vs none", "failed/run",
		"TokensAcrossProcesses/store=file", "TokensAcrossProcesses/store=none", "ours 0", exactly(0), true},
	{"7 processes that failed, 60 (4 at a time) at the default token limit: store vs none", "failed/run",
		"ProcessesAtTokenLimit/store=file", "ProcessesAtTokenLimit/store=none", "ours 0", exactly(0), true},
	{"7 token requests (429s included) of the 60 processes: store vs none", "tokens/run",
		"ProcessesAtTokenLimit/store=file", "ProcessesAtTokenLimit/store=none", "reported", nil, true},
	{"7 wall time of the 60 processes: store vs none", "ns/op",
		"ProcessesAtTokenLimit/store=file", "ProcessesAtTokenLimit/store=none", "reported", nil, true},
	// 8 bulk removal (issue 14): 429s, wall time / the bucket's minimum and
	// duplicates, against plain Remove calls; rows come with its benchmark.
}

func format(v float64, unit string) string {
	switch {
	case unit == "ns/op" && v >= 1e8:
		return fmt.Sprintf("%.2f s", v/1e9)
	case unit == "ns/op":
		return fmt.Sprintf("%.1f µs", v/1e3)
	case unit == "deletes/s":
		return fmt.Sprintf("%.0f/s", v)
	case v == float64(int64(v)):
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return fmt.Sprintf("%.4g %s", v, unit)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ratio results.txt")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	s, err := read(f, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("| figure | ours | baseline | ratio | goal | result |")
	fmt.Println("| --- | ---: | ---: | ---: | --- | --- |")
	for _, fg := range figures {
		ours, ok := s.median(fg.ours, fg.unit)
		if !ok {
			fmt.Printf("| %s | no data | | | %s | not run |\n", fg.label, fg.goal)
			continue
		}
		baseCol, ratioCol, subject := "", "", ours
		if fg.base != "" {
			if base, ok := s.median(fg.base, fg.unit); ok {
				baseCol = format(base, fg.unit)
				if base != 0 {
					ratioCol = fmt.Sprintf("%.3f", ours/base)
				}
				if !fg.onOurs {
					subject = ours / base
				}
			} else {
				baseCol = "no data"
			}
		}
		result := ""
		if fg.ok != nil {
			result = verdict(fg.ok(subject))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", fg.label, format(ours, fg.unit), baseCol, ratioCol, fg.goal, result)
	}
	fmt.Println()
	fmt.Println("Medians over the rounds in", os.Args[1]+" (failed/op, failed/run: the worst round); ratio = ours / baseline.")
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}
