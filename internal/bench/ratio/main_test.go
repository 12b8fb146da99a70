package main

import (
	"math"
	"regexp"
	"strings"
	"testing"
)

// TestGoals: every goal reads as verdict checks it; a typo would make a
// goal "reported" or always missed.
func TestGoals(t *testing.T) {
	form := regexp.MustCompile(`^((ours|ratio) (≤|≥|=) [0-9.]+|reported)$`)
	for _, f := range figures {
		if !form.MatchString(f.goal) {
			t.Errorf("%s: goal %q", f.label, f.goal)
		}
		if f.base == "" && strings.HasPrefix(f.goal, "ratio") {
			t.Errorf("%s: a ratio goal without a baseline", f.label)
		}
	}
	for _, c := range []struct {
		goal        string
		ours, ratio float64
		want        string
	}{
		{"ours ≤ 1.15", 1.15, math.NaN(), "met"},
		{"ours ≤ 1.15", 1.16, 0.5, "**missed**"},
		{"ratio ≥ 0.4", 0, 0.4, "met"},
		{"ratio ≥ 0.4", 9, 0.39, "**missed**"},
		{"ratio ≤ 1.2", 1, math.NaN(), "**missed**"}, // no baseline
		{"ours = 900", 900, 1, "met"},
		{"ours = 0", 0.5, 0, "**missed**"},
		{"reported", 1, 1, ""},
	} {
		if got := verdict(c.goal, c.ours, c.ratio); got != c.want {
			t.Errorf("verdict(%q, %v, %v) = %q, want %q", c.goal, c.ours, c.ratio, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	values := parse("goos: linux\n" +
		"BenchmarkDigestRoundTrips/impl=mongodb-forks/conc=32-2  10000  116.5 ns/op  2.000 req/op  0 failed/op\n" +
		"BenchmarkGoGenerate\t1\t856800000 ns/op\n" +
		"BenchmarkBulkRemoval/paced=true-2\n" + // a name alone, before a b.Logf line
		"BenchmarkBulkRemoval/paced=true-2  1  9010746834 ns/op  0 429s/run\n")
	want := map[string][]float64{
		"DigestRoundTrips/impl=mongodb-forks/conc=32 ns/op":     {116.5},
		"DigestRoundTrips/impl=mongodb-forks/conc=32 req/op":    {2},
		"DigestRoundTrips/impl=mongodb-forks/conc=32 failed/op": {0},
		"GoGenerate ns/op":                {856800000},
		"BulkRemoval/paced=true ns/op":    {9010746834},
		"BulkRemoval/paced=true 429s/run": {0},
	}
	if len(values) != len(want) {
		t.Errorf("parse: %v, want %v", values, want)
	}
	for k, v := range want {
		if len(values[k]) != 1 || values[k][0] != v[0] {
			t.Errorf("parse: %q = %v, want %v", k, values[k], v)
		}
	}
}

func TestMedian(t *testing.T) {
	if m, _ := median([]float64{3, 1, 2, 10}, "ns/op"); m != 2.5 {
		t.Errorf("median of 4 = %v, want 2.5", m)
	}
	if m, _ := median([]float64{0, 4, 0}, "429s/run"); m != 4 {
		t.Errorf("429s/run = %v, want the worst round, 4", m)
	}
	if _, ok := median(nil, "ns/op"); ok {
		t.Error("median of nothing is ok")
	}
}
