package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// edit is one change to a fixture's text: old must occur in it.
type edit struct{ file, old, new string }

// Edits the cases share.
var (
	// newParameter adds a required query parameter upstream.
	newParameter = edit{"upstream.yaml", "        - name: apiUserId\n", `        - name: force
          in: query
          required: true
          schema:
            type: boolean
        - name: apiUserId
`}
	// Whys in ours.yaml: above the ours-only response and the changed nullable.
	responseWhy = "        # why: the server answers 400 for a missing key\n"
	nullableWhy = "          # why: unlike upstream, the server sends null details\n"
	// orgIDItem is the parameters' item that names orgId in ours.yaml.
	orgIDItem = "        - $ref: \"#/components/parameters/orgId\"\n"
)

// nullable is the changed value the fixtures have on a component that is
// named differently on each side.
const nullable = `changed components.schemas.Error.properties.detail.nullable (upstream: "false")`

// TestCheck runs the check on testdata's fixtures, each case with a few
// edits, and wants its exit status and lines. The fixtures differ in three
// explained ways, so a pass is never a pass over nothing: an ours-only
// response, a changed value and a renamed operationId (the operation is still
// found, by path and method).
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edits []edit
		code  int      // exit status
		lines []string // each is in the output
	}{{
		name: "every difference explained",
		lines: []string{
			`ours.yaml:10: changed DELETE operationId (upstream: "deleteKey"): explained`,
			"ours.yaml:22: ours-only DELETE responses.400: explained",
			"ours.yaml:52: " + nullable + ": explained",
			"3 differences from upstream, 0 unexplained",
		},
	}, {
		name:  "new required query parameter",
		edits: []edit{newParameter},
		code:  1,
		lines: []string{
			"ours.yaml:11: upstream-only DELETE parameters.query.force: UNEXPLAINED",
			"4 differences from upstream, 1 unexplained",
		},
	}, {
		name: "new parameter named by a why above the parameters",
		edits: []edit{newParameter, {"ours.yaml", "      parameters:\n",
			"      # why: force is upstream's; the client never sends it\n      parameters:\n"}},
		lines: []string{
			"ours.yaml:12: upstream-only DELETE parameters.query.force: explained",
			"4 differences from upstream, 0 unexplained",
		},
	}, {
		name: "new parameter under a why that does not name it",
		edits: []edit{newParameter, {"ours.yaml", "      parameters:\n",
			"      # why: forced order: orgId first\n      parameters:\n"}},
		code: 1,
		lines: []string{
			"ours.yaml:12: upstream-only DELETE parameters.query.force: UNEXPLAINED",
			"4 differences from upstream, 1 unexplained",
		},
	}, {
		name: "changed pattern under a why that is not about the change",
		edits: []edit{{"upstream.yaml", "{24}", "{26}"},
			{"ours.yaml", orgIDItem, "        # why: orgId's pattern is upstream's\n" + orgIDItem}},
		code: 1,
		lines: []string{ // a parameter's difference is its list's
			"ours.yaml:11: changed DELETE parameters.path.orgId.schema.pattern " +
				`(upstream: "^[a-f0-9]{26}$"): UNEXPLAINED`,
			"4 differences from upstream, 1 unexplained",
		},
	}, {
		name: "upstream-only element named by a why above a sibling",
		edits: []edit{{"upstream.yaml", "      operationId: deleteKey\n",
			"      operationId: deleteKey\n      x-docs-url: https://example.com\n"},
			{"ours.yaml", "and method\n", "and method; x-docs-url is upstream's\n"}},
		lines: []string{
			"ours.yaml:8: upstream-only DELETE x-docs-url: explained",
			"4 differences from upstream, 0 unexplained",
		},
	}, {
		name: "why over several comment lines",
		edits: []edit{{"ours.yaml", nullableWhy,
			"          # why: the server sends null details,\n          # unlike upstream\n"}},
		lines: []string{
			"ours.yaml:53: " + nullable + ": explained",
			"3 differences from upstream, 0 unexplained",
		},
	}, {
		name:  "comment block that does not begin with a why",
		edits: []edit{{"ours.yaml", responseWhy, "        # 400:\n" + responseWhy}},
		code:  1,
		lines: []string{
			"ours.yaml:23: ours-only DELETE responses.400: UNEXPLAINED",
			"3 differences from upstream, 1 unexplained",
		},
	}, {
		name: "upstream-only response",
		edits: []edit{{"upstream.yaml", `        "404":`,
			"        \"409\":\n          description: Conflict.\n        \"404\":"}},
		code: 1,
		lines: []string{
			"ours.yaml:18: upstream-only DELETE responses.409: UNEXPLAINED",
			"4 differences from upstream, 1 unexplained",
		},
	}, {
		name:  "removed why",
		edits: []edit{{"ours.yaml", responseWhy, ""}},
		code:  1,
		lines: []string{
			"ours.yaml:21: ours-only DELETE responses.400: UNEXPLAINED",
			"3 differences from upstream, 1 unexplained",
		},
	}, {
		name: "why above an enclosing key",
		edits: []edit{
			{"ours.yaml", nullableWhy, ""},
			{"ours.yaml", "        detail:\n", nullableWhy[2:] + "        detail:\n"},
		},
		code: 1,
		lines: []string{
			"ours.yaml:52: " + nullable + ": UNEXPLAINED",
			"3 differences from upstream, 1 unexplained",
		},
	}, {
		name:  "operation missing upstream",
		edits: []edit{{"upstream.yaml", "    delete:\n      operationId: deleteKey", "    post:"}},
		code:  2,
		lines: []string{"drift: upstream.yaml: no DELETE " + opPath},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(fixtures(t, tc.edits))
			var stdout, stderr strings.Builder
			code := run([]string{"ours.yaml", "upstream.yaml"}, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit status %d, want %d", code, tc.code)
			}
			out := stdout.String() + stderr.String()
			for _, line := range tc.lines {
				if !strings.Contains(out, line) {
					t.Errorf("output lacks %q; got:\n%s", line, out)
				}
			}
		})
	}
}

// TestCheckSameSpec: a spec has no differences from itself.
func TestCheckSameSpec(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run([]string{"testdata/ours.yaml", "testdata/ours.yaml"}, &stdout, &stderr)
	out, want := stdout.String()+stderr.String(), "0 differences from upstream, 0 unexplained\n"
	if code != 0 || out != want {
		t.Errorf("exit status %d, output %q; want 0, %q", code, out, want)
	}
}

// fixtures writes testdata's two fixtures, edited, into a temporary directory.
func fixtures(t *testing.T, edits []edit) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"ours.yaml", "upstream.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		for _, e := range edits {
			if e.file == name && !strings.Contains(text, e.old) {
				t.Fatalf("%s has no %q to edit", name, e.old)
			}
			if e.file == name {
				text = strings.Replace(text, e.old, e.new, 1)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
