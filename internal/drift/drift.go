// Command drift compares the operation in our spec with the same operation in
// Atlas's published spec: drift OURS.yaml UPSTREAM.yaml.
//
// Each spec is cut down to the DELETE on opPath, selected by path and method
// (operationIds get renamed), with its path's parameters and the security
// schemes it uses. $refs stay resolved, so components take part as far as the
// operation uses them, whatever their names. oasdiff compares the two cuts;
// each leaf of its report becomes one line:
//
//	FILE:LINE: SIDE PATH [(upstream: VALUE)]: explained|UNEXPLAINED
//
// SIDE is ours-only, upstream-only or changed. PATH is where the difference
// sits in our spec; after a $ref it goes on in the component the $ref names,
// so a component several responses use is reported once. LINE is our spec's
// deepest node on PATH, the line to edit. A "# why:" comment line directly
// above that node's key or sequence item explains the difference when:
//
//   - ours-only: it is there;
//   - changed: it says "unlike upstream" (the spec's whys also say why a node
//     exists at all, such as "upstream pattern", and those explain no change);
//   - absent from our spec (upstream-only, or a value only upstream sets):
//     the node is then the nearest ancestor, and the why names PATH's last
//     segment as a whole word.
//
// A why explains nothing deeper than its own node.
//
// The exit status is 0 when every difference is explained, 1 when one is
// not, and 2 when a spec cannot be read.
package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/oasdiff/diff"
	"go.yaml.in/yaml/v3"
)

// opPath is the path of the one operation this module covers.
const opPath = "/api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}"

// yamlKeys maps the names in oasdiff's report to the spec's own keys.
var yamlKeys = map[string]string{
	"operationID": "operationId", "securityRequirements": "security", "OAuthFlows": "flows",
	"tokenURL": "tokenUrl", "min": "minimum", "max": "maximum", "styleDiff": "style",
}

// difference is one leaf of oasdiff's report, placed in our spec.
type difference struct {
	side      string // ours-only, upstream-only or changed
	at        string // PATH as printed
	line      int
	upstream  any // upstream's value, when changed
	explained bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: drift OURS.yaml UPSTREAM.yaml")
		return 2
	}
	diffs, err := check(args[0], args[1])
	if err != nil {
		fmt.Fprintf(stderr, "drift: %v\n", err)
		return 2
	}
	unexplained := 0
	for _, d := range diffs {
		verdict, value := "explained", ""
		if !d.explained {
			verdict, unexplained = "UNEXPLAINED", unexplained+1
		}
		if d.side == "changed" {
			value = fmt.Sprintf(" (upstream: %.60q)", fmt.Sprint(d.upstream))
		}
		fmt.Fprintf(stdout, "%s:%d: %s %s%s: %s\n", args[0], d.line, d.side, d.at, value, verdict)
	}
	fmt.Fprintf(stdout, "%d differences from upstream, %d unexplained\n", len(diffs), unexplained)
	return min(unexplained, 1)
}

// check returns the differences between the two specs' operations, placed in
// our spec and sorted by line.
func check(oursPath, upstreamPath string) ([]difference, error) {
	raw, err := os.ReadFile(oursPath)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	ours, err := operation(openapi3.NewLoader().LoadFromData(raw))
	if err == nil {
		err = yaml.Unmarshal(raw, &doc)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", oursPath, err)
	}
	upstream, err := operation(openapi3.NewLoader().LoadFromFile(upstreamPath))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", upstreamPath, err)
	}
	report, err := diff.Get(diff.NewConfig(), ours, upstream)
	if err != nil {
		return nil, fmt.Errorf("oasdiff: %w", err)
	}
	if report == nil { // no difference
		return nil, nil
	}
	data, err := json.Marshal(struct { // what the cuts can differ in
		OpenAPI    *diff.ValueDiff      `json:"openapi,omitempty"`
		Paths      *diff.PathsDiff      `json:"paths,omitempty"`
		Components *diff.ComponentsDiff `json:"components,omitempty"`
	}{report.OpenAPIDiff, report.PathsDiff, report.ComponentsDiff})
	var tree any // the report as maps, lists and values
	if err == nil {
		err = json.Unmarshal(data, &tree)
	}
	if err != nil {
		return nil, fmt.Errorf("oasdiff's report: %w", err)
	}
	s := &spec{root: doc.Content[0], lines: strings.Split(string(raw), "\n")}
	s.flatten(nil, tree)
	slices.SortStableFunc(s.diffs, func(a, b difference) int {
		return cmp.Or(cmp.Compare(a.line, b.line), strings.Compare(a.at, b.at))
	})
	// A component several responses use differs once.
	return slices.CompactFunc(s.diffs, func(a, b difference) bool {
		return a.at == b.at && a.side == b.side
	}), nil
}

// operation cuts a loaded document down to the DELETE on opPath.
func operation(doc *openapi3.T, err error) (*openapi3.T, error) {
	if err != nil {
		return nil, err
	}
	item := doc.Paths.Value(opPath)
	if item == nil || item.Delete == nil {
		return nil, fmt.Errorf("no DELETE %s", opPath)
	}
	op := *item.Delete
	if op.Security == nil {
		op.Security = &doc.Security
	}
	schemes := openapi3.SecuritySchemes{}
	for _, requirement := range *op.Security {
		for name := range requirement {
			schemes[name] = doc.Components.SecuritySchemes[name]
		}
	}
	cut := &openapi3.PathItem{Delete: &op, Parameters: item.Parameters}
	return &openapi3.T{
		OpenAPI:    doc.OpenAPI,
		Paths:      openapi3.NewPaths(openapi3.WithPath(opPath, cut)),
		Components: &openapi3.Components{SecuritySchemes: schemes},
	}, nil
}

// spec is our spec's YAML, and the differences placed in it.
type spec struct {
	root  *yaml.Node
	lines []string
	diffs []difference
}

// flatten places each leaf of oasdiff's report below path.
func (s *spec) flatten(path []string, node any) {
	m, ok := node.(map[string]any)
	if !ok { // a flag such as enumAdded: true
		s.place("changed", path, node)
		return
	}
	if from, ok := m["from"]; ok && len(m) == 2 {
		switch to := m["to"]; {
		case from == nil || from == "":
			s.place("upstream-only", path, to)
		case to == nil || to == "":
			s.place("ours-only", path, nil)
		default:
			s.place("changed", path, to)
		}
		return
	}
	for _, key := range slices.Sorted(maps.Keys(m)) {
		switch value := m[key]; key {
		case "added":
			s.elements(path, value, "upstream-only")
		case "deleted":
			s.elements(path, value, "ours-only")
		case "modified":
			named, _ := value.(map[string]any)
			for _, name := range slices.Sorted(maps.Keys(named)) {
				s.flatten(append(slices.Clip(path), name), named[name])
			}
		case "operations", "extensions": // methods under modified; extensions are keys
			s.flatten(path, value)
		default:
			s.flatten(append(slices.Clip(path), cmp.Or(yamlKeys[key], key)), value)
		}
	}
}

// elements places each element an "added" or "deleted" holds: true (the node
// itself), names or values, or names by parameter location.
func (s *spec) elements(path []string, node any, side string) {
	switch v := node.(type) {
	case []any:
		for _, element := range v {
			s.place(side, append(slices.Clip(path), fmt.Sprint(element)), nil)
		}
	case map[string]any:
		for _, in := range slices.Sorted(maps.Keys(v)) {
			s.elements(append(slices.Clip(path), in), v[in], side)
		}
	default:
		s.place(side, path, nil)
	}
}

// place finds our spec's deepest node on path, following $refs, decides
// whether a why explains the difference there (see the package doc) and
// records it.
func (s *spec) place(side string, path []string, upstream any) {
	d := difference{side: side, upstream: upstream}
	key, node, at, rest := s.root, s.root, []string{}, path
	for len(rest) > 0 {
		if ref, ok := strings.CutPrefix(field(node, "$ref"), "#/"); ok {
			at = strings.Split(ref, "/")
			key, node = s.resolve(ref)
		}
		k, v, used := s.step(node, rest)
		if v == nil {
			break
		}
		key, node, at, rest = k, v, append(at, rest[:used]...), rest[used:]
	}
	at = append(at, rest...)
	d.at, d.line = strings.Join(at, "."), key.Line
	if len(at) > 2 && at[0] == "paths" && at[1] == opPath {
		d.at = strings.TrimSpace(strings.ToUpper(at[2]) + " " + strings.Join(at[3:], "."))
	}
	why, ok := strings.CutPrefix(strings.TrimSpace(s.lines[max(key.Line-2, 0)]), "# why:")
	word := "" // what the why must name
	if len(rest) > 0 {
		word = rest[len(rest)-1]
	} else if side == "changed" {
		word = "unlike upstream"
	}
	pattern := `(^|[^\w-])` + regexp.QuoteMeta(word) + `($|[^\w-])`
	d.explained = ok && key.Line > 1 && (word == "" || regexp.MustCompile(pattern).MatchString(why))
	s.diffs = append(s.diffs, d)
}

// step finds rest's first names below node: a parameter by location and name,
// or a mapping's key. It returns the item or key, its value, and how many
// names it used.
func (s *spec) step(node *yaml.Node, rest []string) (key, val *yaml.Node, used int) {
	for _, item := range node.Content {
		if node.Kind != yaml.SequenceNode {
			break // node is never nil: kin-openapi resolved every $ref
		}
		param := item
		if ref, ok := strings.CutPrefix(field(item, "$ref"), "#/"); ok {
			_, param = s.resolve(ref)
		}
		if len(rest) > 1 && field(param, "in") == rest[0] && field(param, "name") == rest[1] {
			return item, item, 2
		}
	}
	key, val = pair(node, rest[0])
	return key, val, 1
}

// resolve returns the key and value a local $ref (without "#/") names.
func (s *spec) resolve(ref string) (key, val *yaml.Node) {
	val = s.root
	for _, name := range strings.Split(ref, "/") {
		key, val = pair(val, name)
	}
	return key, val
}

// pair returns a mapping's key called name and its value, or nils.
func pair(node *yaml.Node, name string) (key, val *yaml.Node) {
	for i := 0; node != nil && node.Kind == yaml.MappingNode && i+1 < len(node.Content); i += 2 {
		if strings.EqualFold(node.Content[i].Value, name) { // DELETE is delete
			return node.Content[i], node.Content[i+1]
		}
	}
	return nil, nil
}

// field returns the scalar value of a mapping's key called name, or "".
func field(node *yaml.Node, name string) string {
	if _, val := pair(node, name); val != nil {
		return val.Value
	}
	return ""
}
