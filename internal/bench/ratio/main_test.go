package main

import (
	"math"
	"regexp"
	"strings"
	"testing"
)

// Every goal reads as verdict checks it, and verdict checks it right: a
// typo would make a goal "reported" or always missed.
func TestGoals(t *testing.T) {
	form := regexp.MustCompile(`^((ours|ratio) (≤|≥|=) [0-9.]+|reported)$`)
	for _, f := range figures {
		if !form.MatchString(f.goal) || f.base == "" && strings.HasPrefix(f.goal, "ratio") {
			t.Errorf("%s: goal %q, baseline %q", f.label, f.goal, f.base)
		}
	}
	for _, c := range []struct {
		goal        string
		ours, ratio float64
		want        string
	}{
		{"ours ≤ 1.15", 1.15, math.NaN(), "met"},
		{"ours ≤ 1.15", 1.16, 0.5, "**missed**"},
		{"ratio ≥ 0.4", 9, 0.39, "**missed**"},
		{"ratio ≤ 1.2", 1, math.NaN(), "**missed**"}, // no baseline
		{"ours = 900", 900, 1, "met"},
		{"reported", 1, 1, ""},
	} {
		if got := verdict(c.goal, c.ours, c.ratio); got != c.want {
			t.Errorf("verdict(%q, %v, %v) = %q, want %q", c.goal, c.ours, c.ratio, got, c.want)
		}
	}
}

// parse reads every value of every result line, and median takes the
// median of the rounds, or the worst round for failures.
func TestParseAndMedian(t *testing.T) {
	values := parse("goos: linux\nBenchmarkOneShot-2 100 2.0e7 ns/op 20.5 ours-ms 0 failed/op\n" +
		"BenchmarkOneShot-2\n" + // a name alone, before a b.Logf line
		"BenchmarkOneShot-2 100 2.2e7 ns/op 19.5 ours-ms 3 failed/op\n")
	for _, c := range []struct {
		unit string
		want float64
	}{{"ns/op", 2.1e7}, {"ours-ms", 20}, {"failed/op", 3}} {
		if got, _ := median(values["OneShot "+c.unit], c.unit); got != c.want {
			t.Errorf("%s: %v, want %v", c.unit, got, c.want)
		}
	}
	if _, ok := median(values["OneShot B/op"], "B/op"); ok {
		t.Error("a median of no values")
	}
}

// format writes each unit as BENCHMARKS.md shows it.
func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{9.1e9, "ns/op", "9.10 s"},
		{2500, "ns/op", "2.5 µs"},
		{18.84, "ours-ms", "18.8 ms"},
		{12345.6, "deletes/s", "12346/s"},
		{900, "deletes/run", "900 deletes/run"},
		{1.0811, "ours/peer", "1.081 ours/peer"},
	} {
		if got := format(c.v, c.unit); got != c.want {
			t.Errorf("format(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}
