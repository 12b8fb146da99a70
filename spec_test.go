package deleteorgapikey_test

import (
	"context"
	"io/fs"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

const specPath = "openapi/deleteorgapikey.yaml"

func loadSpecFile(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(specPath)
	if err != nil {
		t.Fatalf("load %s: %v", specPath, err)
	}
	return doc
}

func TestSpecLoadsAndValidates(t *testing.T) {
	doc := loadSpecFile(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s does not validate: %v", specPath, err)
	}
	if doc.OpenAPI != "3.0.1" {
		t.Errorf("openapi = %q, want 3.0.1", doc.OpenAPI)
	}
}

// seed is the operation page as the user handed it to us (testdata/seed.md).
type seed struct {
	summary, description, docsText, docsURL, server string
	authMethods                                     []string
	pathParams, queryParams                         []seedField
	responses                                       map[string]seedResponse
}

type seedField struct{ name, typ, description string }

type seedResponse struct {
	description string
	fields      []seedField
}

var (
	mdLink     = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	seedField_ = regexp.MustCompile(`- \*\*(\w+)\*\* \((\S+?)\)(?: (.*?))?(?: (?:- \*\*|#### )|$)`)
	seedCode   = regexp.MustCompile(`### (\d{3}) `)
)

// plain turns seed markdown into the plain text the spec carries.
func plain(s string) string {
	return strings.Join(strings.Fields(mdLink.ReplaceAllString(s, "$1")), " ")
}

func between(t *testing.T, s, from, to string) string {
	t.Helper()
	_, after, ok := strings.Cut(s, from)
	if !ok {
		t.Fatalf("seed has no %q", from)
	}
	if to == "" {
		return after
	}
	before, _, ok := strings.Cut(after, to)
	if !ok {
		t.Fatalf("seed has no %q after %q", to, from)
	}
	return before
}

func fields(s string) []seedField {
	var out []seedField
	for rest := s; ; {
		loc := seedField_.FindStringSubmatchIndex(rest)
		if loc == nil {
			return out
		}
		m := seedField_.FindStringSubmatch(rest)
		out = append(out, seedField{name: m[1], typ: m[2], description: plain(m[3])})
		rest = rest[loc[5]:] // continue after the type, so the next "- **" is seen
	}
}

func parseSeed(t *testing.T) seed {
	t.Helper()
	raw, err := os.ReadFile("testdata/seed.md")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(raw))
	var sd seed
	sd.summary = strings.TrimSpace(between(t, s, "# ", " **DELETE"))
	sd.description = plain(between(t, s, "apiKeys/{apiUserId}** ", " [Configure"))
	link := regexp.MustCompile(`\[(Configure[^\]]*)\]\(([^)]*)\)`).FindStringSubmatch(s)
	if link == nil {
		t.Fatal("seed has no external docs link")
	}
	sd.docsText, sd.docsURL = link[1], link[2]
	sd.server = strings.TrimSpace(between(t, between(t, s, "## Servers", "## Authentication"), "- ", ": "))
	for _, m := range strings.Split(between(t, s, "## Authentication methods", "## Parameters"), " - ") {
		if m = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(m), "-")); m != "" {
			sd.authMethods = append(sd.authMethods, m)
		}
	}
	sd.pathParams = fields(between(t, s, "### Path parameters", "### Query parameters"))
	sd.queryParams = fields(between(t, s, "### Query parameters", "## Responses"))
	sd.responses = map[string]seedResponse{}
	resp := between(t, s, "## Responses", "[Powered by")
	idx := seedCode.FindAllStringSubmatchIndex(resp, -1)
	for i, loc := range idx {
		end := len(resp)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		section := resp[loc[1]:end]
		desc, body, _ := strings.Cut(section, "####")
		sd.responses[resp[loc[2]:loc[3]]] = seedResponse{description: plain(desc), fields: fields(body)}
	}
	return sd
}

// TestSeedParses guards the parser itself, so that the comparison below cannot
// pass by reading nothing.
func TestSeedParses(t *testing.T) {
	sd := parseSeed(t)
	if len(sd.pathParams) != 2 || len(sd.queryParams) != 2 {
		t.Fatalf("seed params: path %v, query %v; want 2 and 2", sd.pathParams, sd.queryParams)
	}
	if len(sd.responses) != 5 {
		t.Fatalf("seed responses: %d, want 5", len(sd.responses))
	}
	for code, r := range sd.responses {
		if code != "204" && len(r.fields) != 6 {
			t.Errorf("seed response %s has %d body fields, want 6: %v", code, len(r.fields), r.fields)
		}
	}
	if len(sd.authMethods) != 2 {
		t.Errorf("seed auth methods: %q", sd.authMethods)
	}
}

// seedType maps the seed's rendered types onto OpenAPI types and formats.
func checkType(t *testing.T, where string, s *openapi3.Schema, typ string) {
	t.Helper()
	want, format, _ := strings.Cut(strings.TrimSuffix(typ, ")"), "(")
	var items string
	if base, inner, ok := strings.Cut(want, "["); ok {
		want, items = base, strings.TrimSuffix(inner, "]")
	}
	if !s.Type.Is(want) {
		t.Errorf("%s: type %v, seed says %s", where, s.Type, typ)
	}
	if format != "" && s.Format != format {
		t.Errorf("%s: format %q, seed says %s", where, s.Format, typ)
	}
	// The seed's renderer shows untyped items (upstream's `items: {}`) as
	// object, so an untyped item schema matches "object".
	untyped := s.Items != nil && (s.Items.Value.Type == nil || len(*s.Items.Value.Type) == 0)
	if items != "" && (s.Items == nil || !s.Items.Value.Type.Is(items) && !(items == "object" && untyped)) {
		t.Errorf("%s: items are not %s", where, items)
	}
}

func TestSpecHoldsEverythingTheSeedStates(t *testing.T) {
	sd := parseSeed(t)
	doc := loadSpecFile(t)
	item := doc.Paths.Find("/api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}")
	if item == nil || item.Delete == nil {
		t.Fatal("spec has no DELETE /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}")
	}
	op := item.Delete
	if op.Summary != sd.summary {
		t.Errorf("summary %q, seed %q", op.Summary, sd.summary)
	}
	if plain(op.Description) != sd.description {
		t.Errorf("description differs from the seed:\nspec: %s\nseed: %s", plain(op.Description), sd.description)
	}
	if op.ExternalDocs == nil || op.ExternalDocs.URL != sd.docsURL || op.ExternalDocs.Description != sd.docsText {
		t.Errorf("externalDocs %+v, seed %q %q", op.ExternalDocs, sd.docsText, sd.docsURL)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != sd.server {
		t.Errorf("servers %v, seed %q", doc.Servers, sd.server)
	}

	// Auth: "Service accounts" is the oauth2 scheme, "Digest auth" the digest one.
	schemes := doc.Components.SecuritySchemes
	wantSchemes := map[string]func(*openapi3.SecurityScheme) bool{
		"Service accounts": func(s *openapi3.SecurityScheme) bool {
			return s.Type == "oauth2" && s.Flows != nil && s.Flows.ClientCredentials != nil &&
				s.Flows.ClientCredentials.TokenURL == "https://cloud.mongodb.com/api/oauth/token"
		},
		"Digest auth": func(s *openapi3.SecurityScheme) bool { return s.Type == "http" && s.Scheme == "digest" },
	}
	for _, m := range sd.authMethods {
		ok, found := wantSchemes[m], false
		if ok == nil {
			t.Errorf("seed names auth method %q the test does not know", m)
			continue
		}
		for name, ref := range schemes {
			if ok(ref.Value) && op.Security != nil {
				for _, req := range *op.Security {
					if _, in := req[name]; in {
						found = true
					}
				}
			}
		}
		if !found {
			t.Errorf("seed auth method %q has no matching scheme required by the operation", m)
		}
	}

	for in, list := range map[string][]seedField{"path": sd.pathParams, "query": sd.queryParams} {
		for _, f := range list {
			p := op.Parameters.GetByInAndName(in, f.name)
			if p == nil {
				t.Errorf("%s parameter %s missing", in, f.name)
				continue
			}
			checkType(t, in+" "+f.name, p.Schema.Value, f.typ)
			if plain(p.Description) != f.description {
				t.Errorf("%s parameter %s description:\nspec: %s\nseed: %s", in, f.name, plain(p.Description), f.description)
			}
			if in == "path" && (!p.Required || p.Schema.Value.Pattern != "^([a-f0-9]{24})$") {
				t.Errorf("path parameter %s: required=%v pattern=%q", f.name, p.Required, p.Schema.Value.Pattern)
			}
			if in == "query" && p.Schema.Value.Default != false {
				t.Errorf("query parameter %s: default %v, want false", f.name, p.Schema.Value.Default)
			}
		}
	}

	for code, r := range sd.responses {
		ref := op.Responses.Value(code)
		if ref == nil {
			t.Errorf("response %s missing", code)
			continue
		}
		resp := ref.Value
		if got := plain(*resp.Description); got != r.description {
			t.Errorf("response %s description %q, seed %q", code, got, r.description)
		}
		if len(r.fields) == 0 {
			if len(resp.Content) != 0 {
				t.Errorf("response %s: seed has no body, spec declares %v", code, resp.Content)
			}
			continue
		}
		mt := resp.Content.Get("application/json")
		if mt == nil {
			t.Errorf("response %s has no application/json body", code)
			continue
		}
		schema := mt.Schema.Value
		for _, f := range r.fields {
			prop := schema.Properties[f.name]
			if prop == nil {
				t.Errorf("response %s body lacks %s", code, f.name)
				continue
			}
			checkType(t, "response "+code+" "+f.name, prop.Value, f.typ)
			if got := plain(prop.Value.Description); got != f.description {
				t.Errorf("response %s field %s description %q, seed %q", code, f.name, got, f.description)
			}
		}
	}
}

// TestSpecAddsUpstreamFacts checks what the design brief adds beyond the seed.
func TestSpecAddsUpstreamFacts(t *testing.T) {
	doc := loadSpecFile(t)
	op := doc.Paths.Find("/api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}").Delete
	if op.OperationID != "deleteOrgApiKey" || len(op.Tags) != 1 || op.Tags[0] != "Programmatic API Keys" {
		t.Errorf("operationId %q tags %v", op.OperationID, op.Tags)
	}
	for _, name := range []string{"orgId", "apiUserId"} {
		p := op.Parameters.GetByInAndName("path", name)
		if err := p.Schema.Value.VisitJSON(p.Schema.Value.Example); err != nil {
			t.Errorf("%s example %v does not fit its schema: %v", name, p.Schema.Value.Example, err)
		}
	}
	headers := map[string][]string{
		"204": {"RateLimit-Limit", "RateLimit-Remaining"},
		"429": {"RateLimit-Limit", "RateLimit-Remaining", "Retry-After"},
	}
	for code, names := range headers {
		for _, h := range names {
			ref := op.Responses.Value(code).Value.Headers[h]
			if ref == nil || !ref.Value.Schema.Value.Type.Is("integer") {
				t.Errorf("response %s lacks integer header %s", code, h)
			}
		}
	}
	examples := op.Responses.Value("400").Value.Content.Get("application/json").Examples
	for name, code := range map[string]string{"keyNotFound": "API_KEY_NOT_FOUND", "validation": "VALIDATION_ERROR"} {
		ex := examples[name]
		if ex == nil {
			t.Errorf("400 has no example %q", name)
			continue
		}
		if m, _ := ex.Value.Value.(map[string]any); m["errorCode"] != code {
			t.Errorf("400 example %s errorCode = %v, want %s", name, m["errorCode"], code)
		}
	}
	apiErr := doc.Components.Schemas["ApiError"].Value
	if strings.Join(apiErr.Required, ",") != "error,errorCode" {
		t.Errorf("ApiError required = %v", apiErr.Required)
	}
	if v, _ := doc.Info.Extensions["x-atlas-api-version"].(string); v != "2023-01-01" {
		t.Errorf("x-atlas-api-version = %q", v)
	}
}

// TestSpecExplainsAdditions: the spec states what the seed page
// (testdata/seed.md) states, and every addition says why. Every key whose
// value is not a mapping (a leaf) is either
//
//   - in the seed: seedLeaves lists its path, built from the parsed page
//     (summary, description, docs link, server, each parameter's name,
//     place, type and description, each status's description and body
//     fields, the auth methods' schemes) plus what OpenAPI needs to hold
//     them (openapi, info's title and version); or
//   - explained: a "# why:" comment line sits directly above its key, or
//     above an enclosing key or sequence item.
//
// $refs are followed, so a component is judged where it is used (under
// "401" ApiError is the seed's, under "400" it is an addition) and a why
// above a component's definition explains every use. A component nobody
// references needs its own why. A failure names the outermost key outside
// the seed: a why there, or on each leaf below it, fixes it.
func TestSpecExplainsAdditions(t *testing.T) {
	root, raw := specYAML(t)
	w := &whyWalk{doc: root.Content[0], unexplained: map[int]string{}, why: map[int]bool{}}
	for i, l := range strings.Split(string(raw), "\n") {
		w.why[i+1] = strings.HasPrefix(strings.TrimSpace(l), "# why:")
	}
	w.seed = seedLeaves(parseSeed(t), loadSpecFile(t))

	for key, val := range pairs(w.doc) {
		if key.Value == "components" {
			for k, v := range pairs(val) {
				if k.Value == "securitySchemes" { // used by name, not by $ref
					w.key("components.securitySchemes", k.Line, v, false, nil)
				}
			}
			continue
		}
		w.key(key.Value, key.Line, val, false, nil)
	}
	if w.leaves < 100 {
		t.Fatalf("judged %d leaves of %s; the walk misses most of it", w.leaves, specPath)
	}
	refs := map[string]bool{}
	collectRefs(w.doc, refs)
	for section, defs := range pairs(lookup(w.doc, "components")) {
		for name := range pairs(defs) {
			if ref := "#/components/" + section.Value + "/" + name.Value; section.Value != "securitySchemes" && !refs[ref] && !w.why[name.Line-1] {
				w.unexplained[name.Line] = ref + " is referenced nowhere"
			}
		}
	}
	for _, line := range slices.Sorted(maps.Keys(w.unexplained)) {
		what := strings.Replace(w.unexplained[line], "paths./api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}.delete.", "DELETE ", 1)
		t.Errorf("%s:%d: %s: not in the seed page and no `# why:` comment above it or an enclosing key", specPath, line, what)
	}
}

// whyWalk walks the spec's YAML for TestSpecExplainsAdditions.
type whyWalk struct {
	doc         *yaml.Node
	seed        map[string]bool // leaf paths the seed states, and their prefixes
	why         map[int]bool    // lines that are "# why:" comments
	unexplained map[int]string  // line of the outermost key outside the seed -> what is unexplained below it
	leaves      int             // leaves judged, so that the test cannot pass by reading nothing
}

// anchor is the outermost key on the current path that is outside the seed.
type anchor struct {
	line int
	path string
}

// key visits the key or sequence item at line whose value is val.
// explained: a why above an enclosing key.
func (w *whyWalk) key(path string, line int, val *yaml.Node, explained bool, out *anchor) {
	explained = explained || w.why[line-1]
	if out == nil && !w.seed[path] {
		out = &anchor{line, path}
	}
	w.value(path, val, explained, out)
}

func (w *whyWalk) value(path string, val *yaml.Node, explained bool, out *anchor) {
	if ref := refOf(val); ref != "" { // judged here, where it is used
		defKey, defVal := w.resolve(ref)
		if defKey == nil {
			w.unexplained[val.Line] = path + ": $ref " + ref + " names nothing in this file"
			return
		}
		w.value(path, defVal, explained || w.why[defKey.Line-1], out)
		return
	}
	switch {
	case val.Kind == yaml.MappingNode && len(val.Content) > 0:
		for k, v := range pairs(val) {
			w.key(path+"."+k.Value, k.Line, v, explained, out)
		}
	case val.Kind == yaml.SequenceNode && slices.ContainsFunc(val.Content, func(n *yaml.Node) bool { return n.Kind != yaml.ScalarNode }):
		for _, item := range val.Content {
			name := "-"
			if n := lookup(w.deref(item), "name"); n != nil {
				name = n.Value
			}
			w.key(path+"."+name, item.Line, item, explained, out)
		}
	default:
		w.leaves++
		if explained || out == nil {
			return
		}
		if _, seen := w.unexplained[out.line]; !seen {
			w.unexplained[out.line] = out.path
			if out.path != path {
				w.unexplained[out.line] += " (" + strings.TrimPrefix(path, out.path+".") + " below it)"
			}
		}
	}
}

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

func (w *whyWalk) deref(n *yaml.Node) *yaml.Node {
	if ref := refOf(n); ref != "" {
		_, n = w.resolve(ref)
	}
	return n
}

// pairs yields a mapping node's keys and values.
func pairs(n *yaml.Node) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(*yaml.Node, *yaml.Node) bool) {
		if n == nil || n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
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

func refOf(n *yaml.Node) string {
	if r := lookup(n, "$ref"); r != nil {
		return r.Value
	}
	return ""
}

func collectRefs(n *yaml.Node, refs map[string]bool) {
	if r := refOf(n); r != "" {
		refs[r] = true
	}
	for _, c := range n.Content {
		collectRefs(c, refs)
	}
}

// seedLeaves lists the paths (keys joined by ".", $refs followed, sequence
// items named by their name field or "-") of the values the seed page
// states, and every prefix of them.
func seedLeaves(sd seed, doc *openapi3.T) map[string]bool {
	var leaves []string
	add := func(prefix string, keys ...string) {
		for _, k := range keys {
			leaves = append(leaves, prefix+k)
		}
	}
	add("", "openapi", "info.title", "info.version", "servers.-.url", "servers.-.description")
	op := "paths./api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}.delete."
	add(op, "summary", "description", "externalDocs.description", "externalDocs.url")
	for _, p := range append(sd.pathParams, sd.queryParams...) {
		add(op+"parameters."+p.name+".", "name", "in", "required", "description", "schema.type", "schema.format")
	}
	for code, r := range sd.responses {
		add(op+"responses."+code+".", "description")
		body := op + "responses." + code + ".content.application/json.schema."
		if len(r.fields) > 0 {
			add(body, "type")
		}
		for _, f := range r.fields {
			add(body+"properties."+f.name+".", "type", "format", "description", "items")
		}
	}
	// "Service accounts" is the scheme ServiceAccounts, "Digest auth" DigestAuth.
	for _, m := range sd.authMethods {
		for name := range doc.Components.SecuritySchemes {
			if strings.EqualFold(name, strings.ReplaceAll(m, " ", "")) {
				add(op+"security.-.", name)
				add("components.securitySchemes."+name+".", "type", "scheme", "flows")
			}
		}
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

// TestSpecExtensionsAreRead: every x- extension in the spec is read by Go
// code outside gen/ (its name appears in a non-test .go file), so that no
// extension is documented and silently ignored.
func TestSpecExtensionsAreRead(t *testing.T) {
	root, _ := specYAML(t)
	extensions := map[string]int{} // name -> first line
	var collect func(*yaml.Node)
	collect = func(n *yaml.Node) {
		for k, v := range pairs(n) {
			if _, seen := extensions[k.Value]; strings.HasPrefix(k.Value, "x-") && !seen {
				extensions[k.Value] = k.Line
			}
			collect(v)
		}
		if n.Kind != yaml.MappingNode {
			for _, c := range n.Content {
				collect(c)
			}
		}
	}
	collect(root)
	if len(extensions) == 0 {
		t.Fatal("no x- extensions found: the walk reads nothing")
	}
	var code strings.Builder
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (path == "gen" || path == "openapi" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != "."):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		src, err := os.ReadFile(path)
		code.Write(src)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, line := range extensions {
		if !strings.Contains(code.String(), `"`+name+`"`) {
			t.Errorf("%s:%d: extension %s is read by no Go code outside gen/ (no %q in a non-test .go file)", specPath, line, name, name)
		}
	}
}

// specYAML parses the spec file as YAML nodes, which keep its comments and
// line numbers, and returns its text too.
func specYAML(t *testing.T) (*yaml.Node, []byte) {
	t.Helper()
	raw, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	return &root, raw
}
