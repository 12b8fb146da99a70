package behavior_test

import (
	"bufio"
	"flag"
	"fmt"
	"net/http"
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
	rows := map[behavior.Situation]behavior.Answer{}
	for _, a := range behavior.Table() {
		if _, dup := rows[a.Situation]; dup {
			t.Errorf("situation %s listed twice", a.Situation)
		}
		rows[a.Situation] = a
		if (a.Evidence == behavior.Recorded) != (a.Recording != "") {
			t.Errorf("%s: evidence %s with recording %q", a.Situation, a.Evidence, a.Recording)
		}
		if a.Source == "" {
			t.Errorf("%s: no source for its evidence", a.Situation)
		}
		if a.Recording == "" {
			continue
		}
		resp := readRecording(t, filepath.Join(recordings, a.Recording))
		if got := behavior.Situation(resp.Header.Get("Evidence-Situation")); got != a.Situation {
			t.Errorf("%s: recording %s is of situation %q", a.Situation, a.Recording, got)
		}
		if resp.StatusCode != a.Status || resp.Header.Get("Content-Type") != a.ContentType {
			t.Errorf("%s: recording has %d %q, table %d %q", a.Situation, resp.StatusCode, resp.Header.Get("Content-Type"), a.Status, a.ContentType)
		}
		for _, h := range a.Headers {
			if resp.Header.Get(h) == "" {
				t.Errorf("%s: table lists header %s, the recording lacks it", a.Situation, h)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(recordings, "*.http"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings: %v", err)
	}
	for _, f := range files {
		s := behavior.Situation(readRecording(t, f).Header.Get("Evidence-Situation"))
		if _, ok := rows[s]; !ok {
			t.Errorf("%s: situation %q is not in the table", f, s)
		}
	}
}

func readRecording(t *testing.T, path string) *http.Response {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, h := range []string{"Evidence-Situation", "Evidence-Source", "Evidence-Date"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("%s: no %s header", path, h)
		}
	}
	return resp
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
