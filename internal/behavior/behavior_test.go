package behavior_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

var update = flag.Bool("update", false, "rewrite the README's fidelity table from the behaviour table")

const (
	readme      = "../../README.md"
	recordings  = "../../testdata/atlas"
	tableStart  = "<!-- fidelity table: generated from internal/behavior by `go test ./internal/behavior -update` -->"
	tableEnd    = "<!-- end of fidelity table -->"
	tokenStatus = "token endpoint"
)

// TestTableMatchesSpec: every answer of the operation is a status the spec
// documents, with its errorCode among that status's documented examples,
// and every documented status has an answer.
func TestTableMatchesSpec(t *testing.T) {
	op := contract.MustLoad().Op
	covered := map[string]bool{}
	for _, a := range behavior.Table() {
		if a.Situation == behavior.TokenRateLimited {
			continue // the token endpoint's answer, outside the operation
		}
		code := strconv.Itoa(a.Status)
		covered[code] = true
		ref := op.Responses.Value(code)
		if ref == nil {
			t.Errorf("%s: status %d is not documented by the spec", a.Situation, a.Status)
			continue
		}
		if a.ErrorCode == "" {
			continue
		}
		mt := ref.Value.Content.Get("application/json")
		if mt == nil {
			t.Errorf("%s: status %d documents no JSON body", a.Situation, a.Status)
			continue
		}
		codes := []any{}
		if m, ok := mt.Example.(map[string]any); ok {
			codes = append(codes, m["errorCode"])
		}
		for _, ex := range mt.Examples {
			if m, ok := ex.Value.Value.(map[string]any); ok {
				codes = append(codes, m["errorCode"])
			}
		}
		if !containsAny(codes, a.ErrorCode) && a.Evidence != behavior.Ours {
			t.Errorf("%s: errorCode %s is not among the spec's examples for %d (%v)", a.Situation, a.ErrorCode, a.Status, codes)
		}
	}
	for code := range op.Responses.Map() {
		if !covered[code] {
			t.Errorf("documented status %s has no answer in the behaviour table", code)
		}
	}
}

func containsAny(vs []any, s string) bool {
	for _, v := range vs {
		if v == s {
			return true
		}
	}
	return false
}

// TestRecordedRowsHaveRecordings: a row that says "recorded" names a file in
// testdata/atlas that holds that situation and agrees with the row, and
// every file there names a situation of the table.
func TestRecordedRowsHaveRecordings(t *testing.T) {
	recs, err := behavior.ReadRecordings(recordings)
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string]behavior.Recording{}
	for _, r := range recs {
		byFile[r.File] = r
		if _, ok := behavior.Lookup(r.Situation); !ok {
			t.Errorf("%s: situation %q is not in the table", r.File, r.Situation)
		}
	}
	seen := map[behavior.Situation]bool{}
	for _, a := range behavior.Table() {
		if seen[a.Situation] {
			t.Errorf("situation %s listed twice", a.Situation)
		}
		seen[a.Situation] = true
		if (a.Evidence == behavior.Recorded) != (a.Recording != "") {
			t.Errorf("%s: evidence %s with recording %q", a.Situation, a.Evidence, a.Recording)
		}
		if a.Source == "" {
			t.Errorf("%s: no source for its evidence", a.Situation)
		}
		if a.Recording == "" {
			continue
		}
		r, ok := byFile[a.Recording]
		switch {
		case !ok:
			t.Errorf("%s: no recording %s", a.Situation, a.Recording)
			continue
		case r.Situation != a.Situation:
			t.Errorf("%s: recording %s is of situation %q", a.Situation, a.Recording, r.Situation)
		case r.Status != a.Status || r.Header.Get("Content-Type") != a.ContentType:
			t.Errorf("%s: recording has %d %q, table %d %q", a.Situation, r.Status, r.Header.Get("Content-Type"), a.Status, a.ContentType)
		}
		for _, h := range a.Headers {
			if r.Header.Get(h) == "" {
				t.Errorf("%s: table lists header %s, the recording lacks it", a.Situation, h)
			}
		}
	}
}

// TestReadRecordingsRefusesFilesWithoutEvidence: a recording must say what it
// shows, where and when it was observed.
func TestReadRecordingsRefusesFilesWithoutEvidence(t *testing.T) {
	dir := t.TempDir()
	raw := "HTTP/1.1 204 No Content\r\nEvidence-Situation: removed\r\nEvidence-Date: 2026-08\r\n\r\n"
	if err := os.WriteFile(filepath.Join(dir, "x.http"), []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := behavior.ReadRecordings(dir); err == nil {
		t.Error("a recording without Evidence-Source was read")
	}
}

// TestREADMEFidelityTable: the README's fidelity table is the behaviour
// table, rendered; -update rewrites it.
func TestREADMEFidelityTable(t *testing.T) {
	raw, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start, end := strings.Index(text, tableStart), strings.Index(text, tableEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md has no fidelity table between %q and %q", tableStart, tableEnd)
	}
	want := tableStart + "\n\n" + fidelityTable() + "\n" + tableEnd
	got := text[start : end+len(tableEnd)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(readme, []byte(text[:start]+want+text[end+len(tableEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's fidelity table differs from internal/behavior; run `go test ./internal/behavior -update`.\ngot:\n%s\nwant:\n%s", got, want)
}

func fidelityTable() string {
	var b strings.Builder
	b.WriteString("| situation | status | errorCode | headers besides Content-Type | evidence | source |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, a := range behavior.Table() {
		status := strconv.Itoa(a.Status)
		if a.Situation == behavior.TokenRateLimited {
			status += " (" + tokenStatus + ")"
		}
		code := a.ErrorCode
		if code == "" {
			code = "—"
		}
		headers := strings.Join(a.Headers, ", ")
		if headers == "" {
			headers = "—"
		}
		source := a.Source
		if a.Recording != "" {
			source += fmt.Sprintf(" ([%s](testdata/atlas/%s))", a.Recording, a.Recording)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", a.Situation, status, code, headers, a.Evidence, strings.ReplaceAll(source, "|", "\\|"))
	}
	return b.String()
}
