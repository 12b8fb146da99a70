package openapi_test

import (
	"bytes"
	"cmp"
	"iter"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/atlascontract/deleteorgapikey/internal/contract"
	"github.com/atlascontract/deleteorgapikey/openapi"
)

const (
	specPath = "deleteorgapikey.yaml"
	opPath   = "/api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}"
)

// TestYAML: YAML is the file beside it, a fresh copy on each call, and a
// valid OpenAPI 3.0.1 document, as upstream's (contract validates it).
func TestYAML(t *testing.T) {
	onDisk, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	openapi.YAML()[0] = '!' // a caller's change to its copy
	if again := openapi.YAML(); !bytes.Equal(again, onDisk) {
		t.Errorf("YAML() differs from %s, or a caller's change reached it", specPath)
	}
	if v := contract.MustLoad().Doc.OpenAPI; v != "3.0.1" {
		t.Errorf("openapi %s, want 3.0.1", v)
	}
}

// seed is the operation page as the user handed it to us (../testdata/seed.md).
type seed struct {
	summary, description, docsText, docsURL, server string
	authMethods                                     []string
	params                                          map[string][]field // by "path" and "query"
	responses                                       map[string]response
}

type field struct{ name, typ, description string }

type response struct {
	description string
	fields      []field
}

var (
	mdLink    = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	seedField = regexp.MustCompile(`- \*\*(\w+)\*\* \((\S+?)\)(?: (.*?))?(?: (?:- \*\*|#### )|$)`)
	seedCode  = regexp.MustCompile(`### (\d{3}) `)
	docsLink  = regexp.MustCompile(`\[(Configure[^\]]*)\]\(([^)]*)\)`)
)

// plain turns seed markdown into the plain text the spec carries.
func plain(s string) string {
	return strings.Join(strings.Fields(mdLink.ReplaceAllString(s, "$1")), " ")
}

func between(t *testing.T, s, from, to string) string {
	t.Helper()
	_, after, ok := strings.Cut(s, from)
	before, _, found := strings.Cut(after, to)
	if !ok || !found {
		t.Fatalf("seed has no %q ... %q", from, to)
	}
	return before
}

func fields(s string) []field {
	var out []field
	for rest := s; ; {
		m := seedField.FindStringSubmatchIndex(rest)
		if m == nil {
			return out
		}
		description := plain(rest[max(m[6], 0):max(m[7], 0)]) // the group may be absent: -1
		out = append(out, field{rest[m[2]:m[3]], rest[m[4]:m[5]], description})
		rest = rest[m[5]:] // on after the type, so the next "- **" is seen
	}
}

func parseSeed(t *testing.T) seed {
	t.Helper()
	raw, err := os.ReadFile("../testdata/seed.md")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(raw)) + " [Powered by"
	servers := between(t, s, "## Servers", "## Authentication")
	sd := seed{summary: strings.TrimSpace(between(t, s, "# ", " **DELETE")),
		description: plain(between(t, s, "apiKeys/{apiUserId}** ", " [Configure")),
		server:      strings.TrimSpace(between(t, servers, "- ", ": ")),
		params: map[string][]field{
			"path":  fields(between(t, s, "### Path parameters", "### Query parameters")),
			"query": fields(between(t, s, "### Query parameters", "## Responses"))},
		responses: map[string]response{}}
	link := docsLink.FindStringSubmatch(s)
	sd.docsText, sd.docsURL = link[1], link[2]
	methods := between(t, s, "## Authentication methods", "## Parameters")
	for _, m := range strings.Split(methods, " - ") {
		if m = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(m), "-")); m != "" {
			sd.authMethods = append(sd.authMethods, m)
		}
	}
	resp := between(t, s, "## Responses", "[Powered by")
	idx := seedCode.FindAllStringSubmatchIndex(resp, -1)
	for i, loc := range idx {
		end := len(resp)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		desc, body, _ := strings.Cut(resp[loc[1]:end], "####")
		sd.responses[resp[loc[2]:loc[3]]] = response{plain(desc), fields(body)}
	}
	// The parser must read the whole page, or the comparison below passes by reading nothing.
	if len(sd.params["path"]) != 2 || len(sd.params["query"]) != 2 || len(sd.responses) != 5 ||
		len(sd.authMethods) != 2 || len(sd.responses["401"].fields) != 6 {
		t.Fatalf("seed parsed as %+v", sd)
	}
	return sd
}

// fromUpstream are the seed's statements the spec replaces by upstream's
// wording; a `# why:` says so where each is.
var fromUpstream = map[string]string{"204": "No Content"}

// TestSpecHoldsEverythingTheSeedStates: summary, description, docs link,
// server, auth methods, each parameter (place, type, description) and each
// response (description, body fields and their types) are the seed's.
func TestSpecHoldsEverythingTheSeedStates(t *testing.T) {
	sd, doc := parseSeed(t), contract.MustLoad().Doc
	op := doc.Paths.Find(opPath).Delete
	ext := op.ExternalDocs
	if op.Summary != sd.summary || plain(op.Description) != sd.description ||
		ext.URL != sd.docsURL || ext.Description != sd.docsText || doc.Servers[0].URL != sd.server {
		t.Errorf("summary, description, externalDocs or server differ from the seed %+v", sd)
	}
	// The seed's "Service accounts" is the oauth2 scheme ServiceAccounts, "Digest auth" DigestAuth.
	schemes, required := doc.Components.SecuritySchemes, []string{}
	for _, r := range *op.Security {
		required = append(required, slices.Collect(maps.Keys(r))...)
	}
	oauth, digest := schemes["ServiceAccounts"].Value, schemes["DigestAuth"].Value
	if !slices.Equal(sd.authMethods, []string{"Service accounts", "Digest auth"}) ||
		!slices.Equal(required, []string{"ServiceAccounts", "DigestAuth"}) ||
		oauth.Type != "oauth2" || digest.Scheme != "digest" {
		t.Errorf("the seed's auth methods %q: the operation requires %q", sd.authMethods, required)
	}
	for in, list := range sd.params {
		for _, f := range list {
			p := op.Parameters.GetByInAndName(in, f.name)
			if p == nil || plain(p.Description) != f.description || !p.Schema.Value.Type.Is(f.typ) {
				t.Errorf("%s parameter %s: %+v, seed %+v", in, f.name, p, f)
			}
		}
	}
	for code, r := range sd.responses {
		resp := op.Responses.Value(code)
		want := cmp.Or(fromUpstream[code], r.description)
		if resp == nil || plain(*resp.Value.Description) != want {
			t.Errorf("response %s: description differs from %q", code, want)
			continue
		}
		for _, f := range r.fields {
			prop := resp.Value.Content.Get("application/json").Schema.Value.Properties[f.name]
			if prop == nil || plain(prop.Value.Description) != f.description ||
				!fits(prop.Value, f.typ) {
				t.Errorf("response %s field %s differs from the seed's %+v", code, f.name, f)
			}
		}
	}
}

// fits reports whether s has the seed's rendered type, e.g. integer(int32)
// or array[object]. The seed shows parameters as array[object]; the spec
// leaves its items untyped (its `# why:` says why), which fits object.
func fits(s *openapi3.Schema, typ string) bool {
	typ, format, _ := strings.Cut(strings.TrimSuffix(typ, ")"), "(")
	typ, items, _ := strings.Cut(strings.TrimSuffix(typ, "]"), "[")
	itemsFit := s.Items != nil &&
		(s.Items.Value.Type.Is(items) || items == "object" && s.Items.Value.Type == nil)
	return s.Type.Is(typ) && (format == "" || s.Format == format) && (items == "" || itemsFit)
}

// TestSpecExplainsAdditions: every value that is not the seed's has a
// `# why:` comment directly above its key, or above an enclosing key or
// sequence item. $refs are followed, so a component is judged where it is
// used, and a why above a component explains every use of it; a component
// nobody uses needs its own. A failure names the outermost key outside the
// seed: a why there, or on each value below it, fixes it.
func TestSpecExplainsAdditions(t *testing.T) {
	root, lines := specYAML(t)
	w := &whyWalk{doc: root.Content[0], unexplained: map[int]string{}, why: map[int]bool{},
		seed: seedPaths(parseSeed(t))}
	inWhy := false // a comment block that begins "# why:" explains the key below it
	for i, l := range lines {
		l = strings.TrimSpace(l)
		inWhy = strings.HasPrefix(l, "# why:") || inWhy && strings.HasPrefix(l, "#")
		w.why[i+1] = inWhy
	}
	for key, val := range pairs(w.doc) {
		if key.Value != "components" {
			w.key(key.Value, key.Line, val, false, "", 0)
		}
	}
	schemes := lookup(lookup(w.doc, "components"), "securitySchemes")
	for k, v := range pairs(schemes) { // used by name, not by $ref
		w.key("components.securitySchemes."+k.Value, k.Line, v, false, "", 0)
	}
	if w.leaves < 150 {
		t.Fatalf("judged %d values of %s: the walk misses most of it", w.leaves, specPath)
	}
	for section, defs := range pairs(lookup(w.doc, "components")) {
		for name := range pairs(defs) {
			ref := "#/components/" + section.Value + "/" + name.Value
			used := strings.Contains(strings.Join(lines, "\n"), `"`+ref+`"`)
			if section.Value != "securitySchemes" && !used && !w.why[name.Line-1] {
				w.unexplained[name.Line] = ref + " is referenced nowhere"
			}
		}
	}
	for _, line := range slices.Sorted(maps.Keys(w.unexplained)) {
		what := strings.Replace(w.unexplained[line], "paths."+opPath+".delete.", "DELETE ", 1)
		t.Errorf("%s:%d: %s: not in the seed page and no `# why:` comment above it or above an "+
			"enclosing key", specPath, line, what)
	}
}

// whyWalk walks the spec's YAML nodes for TestSpecExplainsAdditions.
type whyWalk struct {
	doc         *yaml.Node
	seed        map[string]bool // paths the seed states, and their prefixes
	why         map[int]bool    // lines that are "# why:" comments
	unexplained map[int]string  // line of the outermost key outside the seed -> what is below it
	leaves      int             // values judged, so that the test cannot pass by reading nothing
}

// key visits the key or sequence item at line whose value is val; out and
// outLine are the outermost key on the way that is outside the seed.
func (w *whyWalk) key(path string, line int, val *yaml.Node, explained bool, out string,
	outLine int) {
	if out == "" && !w.seed[path] {
		out, outLine = path, line
	}
	explained = explained || w.why[line-1]
	if ref := lookup(val, "$ref"); ref != nil { // judged here, where it is used
		defKey, defVal := w.resolve(ref.Value)
		w.value(path, defVal, explained || w.why[defKey.Line-1], out, outLine)
		return
	}
	w.value(path, val, explained, out, outLine)
}

func (w *whyWalk) value(path string, val *yaml.Node, explained bool, out string, outLine int) {
	switch {
	case val.Kind == yaml.MappingNode && len(val.Content) > 0:
		for k, v := range pairs(val) {
			w.key(path+"."+k.Value, k.Line, v, explained, out, outLine)
		}
	case val.Kind == yaml.SequenceNode && slices.ContainsFunc(val.Content, notScalar):
		for _, item := range val.Content {
			name := "-"
			if ref := lookup(item, "$ref"); ref != nil {
				_, item := w.resolve(ref.Value)
				name = lookup(item, "name").Value
			}
			w.key(path+"."+name, item.Line, item, explained, out, outLine)
		}
	default:
		w.leaves++
		if _, seen := w.unexplained[outLine]; !explained && out != "" && !seen {
			w.unexplained[outLine] = out
			if out != path {
				w.unexplained[outLine] += " (" + strings.TrimPrefix(path, out+".") + " below it)"
			}
		}
	}
}

func notScalar(n *yaml.Node) bool { return n.Kind != yaml.ScalarNode }

// resolve finds the key and value of a local $ref such as #/components/schemas/ApiError.
func (w *whyWalk) resolve(ref string) (key, val *yaml.Node) {
	val = w.doc
	for _, name := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		for k, v := range pairs(val) {
			if k.Value == name {
				key, val = k, v
			}
		}
	}
	return key, val
}

// pairs yields a mapping node's keys and values.
func pairs(n *yaml.Node) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(*yaml.Node, *yaml.Node) bool) {
		for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if !yield(n.Content[i], n.Content[i+1]) {
				return
			}
		}
	}
}

func lookup(n *yaml.Node, name string) *yaml.Node {
	for k, v := range pairs(n) {
		if k.Value == name {
			return v
		}
	}
	return nil
}

// seedPaths lists the paths (keys joined by ".", $refs followed, sequence
// items named by their name field or "-") of the values the seed page
// states, and every prefix of them.
func seedPaths(sd seed) map[string]bool {
	op := "paths." + opPath + ".delete."
	leaves := []string{"openapi", "info.title", "info.version", "servers.-.url",
		"servers.-.description", op + "summary", op + "description",
		op + "externalDocs.description", op + "externalDocs.url"}
	for _, p := range append(sd.params["path"], sd.params["query"]...) {
		for _, k := range []string{"name", "in", "required", "description", "schema.type"} {
			leaves = append(leaves, op+"parameters."+p.name+"."+k)
		}
	}
	for code, r := range sd.responses {
		leaves = append(leaves, op+"responses."+code+".description")
		body := op + "responses." + code + ".content.application/json.schema."
		if len(r.fields) > 0 {
			leaves = append(leaves, body+"type")
		}
		for _, f := range r.fields {
			for _, k := range []string{"type", "format", "description", "items"} {
				leaves = append(leaves, body+"properties."+f.name+"."+k)
			}
		}
	}
	for _, name := range []string{"ServiceAccounts", "DigestAuth"} { // the seed's two auth methods
		scheme := "components.securitySchemes." + name + "."
		leaves = append(leaves, op+"security.-."+name, scheme+"type", scheme+"scheme",
			scheme+"flows")
	}
	set := map[string]bool{}
	for _, l := range leaves {
		for i, c := range l {
			if c == '.' {
				set[l[:i]] = true
			}
		}
		set[l] = true
	}
	return set
}

// TestSpecExtensionsAreRead: every x- extension in the spec is read by
// internal/contract, which enforces the spec at run time (its name appears
// quoted there), so that no extension is documented and silently ignored.
func TestSpecExtensionsAreRead(t *testing.T) {
	_, lines := specYAML(t)
	const reader = "../internal/contract/contract.go"
	code, err := os.ReadFile(reader)
	if err != nil {
		t.Fatal(err)
	}
	found, extension := 0, regexp.MustCompile(`^\s*(x-[\w-]+):`)
	for i, l := range lines {
		if m := extension.FindStringSubmatch(l); m != nil {
			if found++; !bytes.Contains(code, []byte(`"`+m[1]+`"`)) {
				t.Errorf("%s:%d: extension %s is read nowhere: read it in %s, or drop it",
					specPath, i+1, m[1], reader)
			}
		}
	}
	if found < 4 {
		t.Fatalf("found %d x- extensions: the scan reads nothing", found)
	}
}

// specYAML parses the spec as YAML nodes, which keep its comments' lines,
// and returns its lines too.
func specYAML(t *testing.T) (*yaml.Node, []string) {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(openapi.YAML(), &root); err != nil {
		t.Fatal(err)
	}
	return &root, strings.Split(string(openapi.YAML()), "\n")
}
