// Command ratio reads raw `go test -bench` output (as scripts/bench writes
// it) and prints the BENCHMARKS.md goal table: per figure the median of ours
// and of its baseline from the same run, their ratio, the goal and whether
// it is met.
//
//	go run ./internal/bench/ratio internal/bench/out/results.txt
package main

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// figure is one row: benchmark names without "Benchmark" and the
// -GOMAXPROCS suffix, base "" for none. The goal is checked as it reads:
// "ours" or "ratio" (ours / base), then ≤, ≥ or =, then a number;
// "reported" has none.
type figure struct{ label, unit, ours, base, goal string }

var figures = []figure{
	{"1 digest requests/delete, concurrency 1: ours vs mongodb-forks/digest", "req/op",
		"DigestRoundTrips/impl=authedit/conc=1",
		"DigestRoundTrips/impl=mongodb-forks/conc=1", "ours ≤ 1.01"},
	{"1 digest requests/delete, concurrency 32: ours vs mongodb-forks/digest", "req/op",
		"DigestRoundTrips/impl=authedit/conc=32",
		"DigestRoundTrips/impl=mongodb-forks/conc=32", "ours ≤ 1.01"},
	{"1 digest deletes that failed, concurrency 1: ours vs mongodb-forks/digest", "failed/op",
		"DigestRoundTrips/impl=authedit/conc=1",
		"DigestRoundTrips/impl=mongodb-forks/conc=1", "ours = 0"},
	{"1 digest deletes that failed, concurrency 32: ours vs mongodb-forks/digest", "failed/op",
		"DigestRoundTrips/impl=authedit/conc=32",
		"DigestRoundTrips/impl=mongodb-forks/conc=32", "ours = 0"},
	{"2 service account: token requests per 10,000 deletes, concurrency 64",
		"tokens/10k-deletes", "ServiceAccountTokens/conc=64", "", "ours = 1"},
	{"3 reference server deletes/s, bearer: atlastest / bare 204 handler", "deletes/s",
		"ServerThroughput/scheme=bearer/server=atlastest",
		"ServerThroughput/scheme=bearer/server=bare", "ratio ≥ 0.4"},
	{"3 reference server deletes/s, digest: atlastest / bare 204 handler", "deletes/s",
		"ServerThroughput/scheme=digest/server=atlastest",
		"ServerThroughput/scheme=digest/server=bare", "ratio ≥ 0.4"},
	{"3 deletes that failed, digest, concurrency 16: atlastest vs bare 204 handler",
		"failed/op", "ServerThroughput/scheme=digest/server=atlastest",
		"ServerThroughput/scheme=digest/server=bare", "ours = 0"},
	{"4 scale: time/delete at 10^6 keys / at 10^3 keys", "ns/op",
		"Delete/keys=1000000", "Delete/keys=1000", "ratio ≤ 1.2"},
	{"5 go generate ./... wall time, warm module cache", "ns/op", "GoGenerate", "", "reported"},
	{"6 token requests, 100 processes in turn: file token store vs none", "tokens/run",
		"TokensAcrossProcesses/store=file", "TokensAcrossProcesses/store=none", "ours = 1"},
	{"6 processes that failed, of the 100: file token store vs none", "failed/run",
		"TokensAcrossProcesses/store=file", "TokensAcrossProcesses/store=none", "ours = 0"},
	{"7 processes that failed, 60 (4 at a time) at the default token limit: store vs none",
		"failed/run", "ProcessesAtTokenLimit/store=file", "ProcessesAtTokenLimit/store=none",
		"ours = 0"},
	{"7 token requests (429s included) of the 60 processes: store vs none", "tokens/run",
		"ProcessesAtTokenLimit/store=file", "ProcessesAtTokenLimit/store=none", "reported"},
	{"7 wall time of the 60 processes: store vs none", "ns/op",
		"ProcessesAtTokenLimit/store=file", "ProcessesAtTokenLimit/store=none", "reported"},
	{"8 bulk removal of 1,000 keys, bucket 100 + 100/s, concurrency 4: 429s received, " +
		"Remover vs plain Remove", "429s/run",
		"BulkRemoval/paced=true", "BulkRemoval/paced=false", "ours = 0"},
	{"8 wall time ÷ the bucket's minimum (9 s): Remover vs plain Remove", "ratio-to-min",
		"BulkRemoval/paced=true", "BulkRemoval/paced=false", "ours ≤ 1.15"},
	{"8 retries (requests at the server − keys): Remover vs plain Remove", "retries/run",
		"BulkRemoval/paced=true", "BulkRemoval/paced=false", "reported"},
	{"8 wall time: Remover vs plain Remove", "ns/op",
		"BulkRemoval/paced=true", "BulkRemoval/paced=false", "reported"},
	{"8 keys not removed: Remover vs plain Remove", "failed/run",
		"BulkRemoval/paced=true", "BulkRemoval/paced=false", "ours = 0"},
	{"9 duplicates, 1,000 ids with 100 given twice: deletes at the server", "deletes/run",
		"BulkDuplicates", "", "ours = 900"},
	{"9 duplicates: results returned", "results/run", "BulkDuplicates", "", "ours = 900"},
	{"10 one-shot process, digest key: wall time ours ÷ hand-written peer, median of pairs",
		"ours/peer", "OneShot", "", "ours ≤ 1.1"},
	{"10 one-shot process wall time: ours", "ours-ms", "OneShot", "", "reported"},
	{"10 one-shot process wall time: hand-written peer (net/http + icholy/digest)",
		"peer-ms", "OneShot", "", "reported"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ratio results.txt")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	values := parse(string(raw))
	fmt.Println("| figure | ours | baseline | ratio | goal | result |")
	fmt.Println("| --- | ---: | ---: | ---: | --- | --- |")
	for _, f := range figures {
		ours, ok := median(values[f.ours+" "+f.unit], f.unit)
		if !ok {
			fmt.Printf("| %s | no data | | | %s | not run |\n", f.label, f.goal)
			continue
		}
		baseCol, ratioCol, ratio := "", "", math.NaN()
		if base, ok := median(values[f.base+" "+f.unit], f.unit); ok {
			baseCol = format(base, f.unit)
			if base != 0 {
				ratio = ours / base
				ratioCol = fmt.Sprintf("%.3f", ratio)
			}
		} else if f.base != "" {
			baseCol = "no data"
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", f.label, format(ours, f.unit), baseCol,
			ratioCol, f.goal, verdict(f.goal, ours, ratio))
	}
	fmt.Println()
	fmt.Println("Medians over the rounds in", os.Args[1]+
		" (failed/op, failed/run, 429s/run: the worst round); ratio = ours / baseline.")
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse maps "name unit" to every value of a benchmark result line
// ("BenchmarkName-2  N  v unit  v unit ..."), name as in figure.
func parse(text string) map[string][]float64 {
	values := map[string][]float64{}
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				values[name+" "+f[i+1]] = append(values[name+" "+f[i+1]], v)
			}
		}
	}
	return values
}

// median is the median of vs; for failures and 429s the highest value
// instead: one round with any is a miss.
func median(vs []float64, unit string) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	if strings.HasPrefix(unit, "failed/") || unit == "429s/run" {
		return slices.Max(vs), true
	}
	vs = slices.Sorted(slices.Values(vs))
	return (vs[(len(vs)-1)/2] + vs[len(vs)/2]) / 2, true
}

// verdict checks goal against ours or the ratio, as it names.
func verdict(goal string, ours, ratio float64) string {
	var subject, op string
	var x float64
	if n, _ := fmt.Sscanf(goal, "%s %s %g", &subject, &op, &x); n != 3 {
		return "" // reported
	}
	v := ours
	if subject == "ratio" {
		v = ratio
	}
	if op == "≤" && v <= x || op == "≥" && v >= x || op == "=" && v == x {
		return "met"
	}
	return "**missed**"
}

func format(v float64, unit string) string {
	switch {
	case unit == "ns/op" && v >= 1e8:
		return fmt.Sprintf("%.2f s", v/1e9)
	case unit == "ns/op":
		return fmt.Sprintf("%.1f µs", v/1e3)
	case strings.HasSuffix(unit, "-ms"):
		return fmt.Sprintf("%.1f ms", v)
	case unit == "deletes/s":
		return fmt.Sprintf("%.0f/s", v)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return fmt.Sprintf("%.4g %s", v, unit)
}
