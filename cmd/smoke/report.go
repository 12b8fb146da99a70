package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// result is one row of the smoke report.
type result struct {
	Scenario   string        `json:"scenario"`
	Auth       string        `json:"auth"`
	Expected   string        `json:"expected"`
	Got        string        `json:"got"`
	RoundTrips int           `json:"roundTrips"`
	Duration   time.Duration `json:"durationNs"`
	Pass       bool          `json:"pass"`
	Detail     string        `json:"detail,omitempty"`
}

func (r result) verdict() string {
	if r.Pass {
		return "PASS"
	}
	return "FAIL"
}

// summary counts passes and failures.
func summary(results []result) (passed, failed int) {
	for _, r := range results {
		if r.Pass {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// writeTable prints the human report; its last line is "N passed, M failed".
func writeTable(w io.Writer, results []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tAUTH\tEXPECTED\tGOT\tROUND TRIPS\tTIME\tVERDICT")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Scenario, r.Auth, r.Expected, r.Got, r.RoundTrips,
			r.Duration.Round(100*time.Microsecond), r.verdict())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if !r.Pass && r.Detail != "" {
			fmt.Fprintf(w, "FAIL %s [%s]: %s\n", r.Scenario, r.Auth, r.Detail)
		}
	}
	passed, failed := summary(results)
	_, err := fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return err
}

// writeJSON prints the machine report: the rows and the counts.
func writeJSON(w io.Writer, results []result) error {
	passed, failed := summary(results)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Results []result `json:"results"`
		Passed  int      `json:"passed"`
		Failed  int      `json:"failed"`
	}{results, passed, failed})
}
