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
	Retries    bool          `json:"retries"` // the client retried failed attempts (else each attempt's answer is final)
	Expected   string        `json:"expected"`
	Got        string        `json:"got"`
	RoundTrips int           `json:"roundTrips"`
	Duration   time.Duration `json:"durationNs"`
	Pass       bool          `json:"pass"`
	Detail     string        `json:"detail,omitempty"`
}

// report is what a run prints: where it ran, then one row per scenario.
type report struct {
	Target  string   `json:"target"` // base URL, organization and auth scheme; never a secret
	Results []result `json:"results"`
}

func (r report) counts() (passed, failed int) {
	for _, res := range r.Results {
		if res.Pass {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// maxCell keeps table lines within 160 columns (names within 36); a failing
// row is printed in full, with what went wrong, under the table.
const maxCell = 35

func cell(s string) string {
	if r := []rune(s); len(r) > maxCell {
		return string(r[:maxCell-1]) + "…"
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// write prints the report: JSON, or a table whose last line is "N passed, M failed".
func (r report) write(w io.Writer, asJSON bool) error {
	passed, failed := r.counts()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			report
			Passed int `json:"passed"`
			Failed int `json:"failed"`
		}{r, passed, failed})
	}
	fmt.Fprintln(w, "target:", r.Target)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tAUTH\tRETRY\tEXPECTED\tGOT\tTRIPS\tTIME\tVERDICT")
	var under []string
	for _, res := range r.Results {
		verdict := "PASS"
		if !res.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", res.Scenario, res.Auth, onOff(res.Retries), cell(res.Expected), cell(res.Got),
			res.RoundTrips, res.Duration.Round(100*time.Microsecond), verdict)
		if !res.Pass {
			under = append(under, fmt.Sprintf("FAIL %s [%s]: expected %s; got %s; %s", res.Scenario, res.Auth, res.Expected, res.Got, res.Detail))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range under {
		fmt.Fprintln(w, line)
	}
	_, err := fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return err
}
