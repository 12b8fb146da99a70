package behavior_test

import (
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

var update = flag.Bool("update", false, "rewrite the README's fidelity table from the table")

const (
	readme     = "../../README.md"
	recordings = "../../testdata/atlas"
	tableStart = "<!-- fidelity table: generated from internal/behavior by " +
		"`go test ./internal/behavior -update` -->"
	tableEnd = "<!-- end of fidelity table -->"
)

// TestTableMatchesSpec: every answer of the operation is a status the spec
// documents, with its errorCode among that status's examples and the
// headers it lists documented there. Every documented status has an
// answer, and every documented header a row that lists it, so that
// atlastest sends it (atlastest's tests hold it to its rows).
func TestTableMatchesSpec(t *testing.T) {
	op := contract.MustLoad().Op
	covered := map[string]bool{}
	listed := map[string][]string{} // status -> the headers its rows list
	for _, a := range behavior.Table() {
		if a.Situation == behavior.TokenRateLimited {
			continue // the token endpoint's answer, outside the operation
		}
		code := strconv.Itoa(a.Status)
		covered[code] = true
		listed[code] = append(listed[code], a.Headers...)
		fix := fmt.Sprintf("the row %s in internal/behavior/behavior.go or the %s response in "+
			"openapi/deleteorgapikey.yaml", a.Situation, code)
		ref := op.Responses.Value(code)
		if ref == nil {
			t.Errorf("%s: status %d is not documented; fix %s", a.Situation, a.Status, fix)
			continue
		}
		for _, h := range a.Headers {
			same := func(k string) bool { return strings.EqualFold(k, h) }
			if !slices.ContainsFunc(slices.Collect(maps.Keys(ref.Value.Headers)), same) {
				t.Errorf("%s: header %s is not documented on %d; fix %s", a.Situation, h, a.Status,
					fix)
			}
		}
		if a.ErrorCode == "" {
			continue
		}
		var codes []any
		if mt := ref.Value.Content.Get("application/json"); mt != nil {
			for _, ex := range mt.Examples {
				codes = append(codes, ex.Value.Value.(map[string]any)["errorCode"])
			}
			if m, ok := mt.Example.(map[string]any); ok {
				codes = append(codes, m["errorCode"])
			}
		}
		if !slices.Contains(codes, any(a.ErrorCode)) {
			t.Errorf("%s: errorCode %s is not among the examples of %d (%v); fix %s", a.Situation,
				a.ErrorCode, a.Status, codes, fix)
		}
	}
	for code, ref := range op.Responses.Map() {
		if !covered[code] {
			t.Errorf("the spec documents status %s, which no row of internal/behavior/behavior.go "+
				"answers: add its row", code)
		}
		for name := range ref.Value.Headers {
			if !slices.Contains(listed[code], http.CanonicalHeaderKey(name)) {
				t.Errorf("the spec documents header %s on %s, but no row of "+
					"internal/behavior/behavior.go with that status lists it, so atlastest never "+
					"sends it: add it to a row, or drop it from openapi/deleteorgapikey.yaml",
					name, code)
			}
		}
	}
}

// TestRecordedRowsHaveRecordings: a row that says "recorded" names a file
// in testdata/atlas that holds its situation and agrees with it, every
// file there names a situation of the table, and ServerHeaders are the
// headers the recorded 204 carries beyond the row's.
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
		recorded := a.Evidence == behavior.Recorded
		if seen[a.Situation] || a.Source == "" || recorded != (a.Recording != "") {
			t.Errorf("%s: listed twice, or without a source, or evidence %s with recording %q",
				a.Situation, a.Evidence, a.Recording)
		}
		seen[a.Situation] = true
		r, ok := byFile[a.Recording]
		if a.Recording == "" {
			continue
		}
		ct := r.Header.Get("Content-Type")
		if !ok || r.Situation != a.Situation || r.Status != a.Status || ct != a.ContentType {
			t.Errorf("%s: recording %s is %q %d %q", a.Situation, a.Recording, r.Situation,
				r.Status, ct)
		}
		for _, h := range a.Headers {
			if r.Header.Get(h) == "" {
				t.Errorf("%s: the row lists header %s, the recording lacks it", a.Situation, h)
			}
		}
		if a.Status != 204 {
			continue
		}
		var server []string
		for h := range r.Header {
			if h != "Date" && h != "Content-Type" && !slices.Contains(a.Headers, h) {
				server = append(server, h)
			}
		}
		want := slices.Sorted(maps.Keys(behavior.ServerHeaders()))
		if slices.Sort(server); !slices.Equal(server, want) {
			t.Errorf("%s carries server headers %v; ServerHeaders() says %v", a.Recording, server,
				want)
		}
	}
}

func TestEvidenceString(t *testing.T) {
	var got []string
	for e := range behavior.Evidence(6) {
		got = append(got, e.String())
	}
	want := "Evidence(0),recorded,upstream spec/docs,reported,ours,Evidence(5)"
	if strings.Join(got, ",") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	if _, ok := behavior.Lookup("nonsense"); ok {
		t.Error("Lookup found a situation not in the table")
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
	if got := text[start : end+len(tableEnd)]; got == want {
		return
	} else if !*update {
		t.Fatalf("README.md's fidelity table differs from internal/behavior; "+
			"run `go test ./internal/behavior -update`.\ngot:\n%s\nwant:\n%s", got, want)
	}
	text = text[:start] + want + text[end+len(tableEnd):]
	if err := os.WriteFile(readme, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fidelityTable() string {
	var b strings.Builder
	b.WriteString("| situation | status | errorCode | headers besides Content-Type | evidence | " +
		"source |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, a := range behavior.Table() {
		status := strconv.Itoa(a.Status)
		if a.Situation == behavior.TokenRateLimited {
			status += " (token endpoint)"
		}
		headers := slices.Clone(a.Headers)
		if a.ServerHeaders {
			headers = append(headers, "server headers")
		}
		source := a.Source
		if a.Recording != "" {
			source += fmt.Sprintf(" ([%s](testdata/atlas/%s))", a.Recording, a.Recording)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", a.Situation, status, or(a.ErrorCode),
			or(strings.Join(headers, ", ")), a.Evidence, strings.ReplaceAll(source, "|", "\\|"))
	}
	return b.String()
}

func or(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
