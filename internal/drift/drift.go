// Command drift compares the operation in our spec with the same operation in
// Atlas's published spec: drift OURS.yaml UPSTREAM.yaml. The README's section
// "make drift" describes how it cuts each spec down to the operation, what it
// prints, its exit status, and which "# why:" comment explains a difference.
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

// yamlKeys maps the names in oasdiff's report to the spec's own keys, where
// they differ in more than case.
var yamlKeys = map[string]string{"securityRequirements": "security", "OAuthFlows": "flows",
	"min": "minimum", "max": "maximum", "styleDiff": "style"}

// difference is one leaf of oasdiff's report, placed in our spec.
type difference struct {
	what      string // SIDE PATH [(upstream: VALUE)], as printed
	line      int
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
		verdict := "explained"
		if !d.explained {
			verdict, unexplained = "UNEXPLAINED", unexplained+1
		}
		fmt.Fprintf(stdout, "%s:%d: %s: %s\n", args[0], d.line, d.what, verdict)
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
	if err != nil || report == nil { // nil: no difference
		return nil, err
	}
	report.EndpointsDiff = nil // the paths' differences again, by endpoint
	//lint:ignore SA1026 EndpointsDiff, the one field JSON cannot encode, is nil
	data, err := json.Marshal(report)
	var tree any // the report as maps, lists and values
	if err == nil {
		err = json.Unmarshal(data, &tree)
	}
	if err != nil {
		return nil, fmt.Errorf("oasdiff's report: %w", err)
	}
	s := &spec{root: doc.Content[0], lines: strings.Split(string(raw), "\n")}
	s.flatten(nil, tree, "changed")
	slices.SortStableFunc(s.diffs, func(a, b difference) int {
		return cmp.Or(cmp.Compare(a.line, b.line), strings.Compare(a.what, b.what))
	})
	// A component several responses use differs once.
	return slices.Compact(s.diffs), nil
}

// operation cuts a loaded document down to the DELETE on opPath, with its
// path's parameters and the document's security schemes; $refs stay resolved.
func operation(doc *openapi3.T, err error) (*openapi3.T, error) {
	if err != nil {
		return nil, err
	}
	item := doc.Paths.Value(opPath)
	if item == nil || item.Delete == nil {
		return nil, fmt.Errorf("no DELETE %s", opPath)
	}
	op := *item.Delete
	if op.Security == nil { // the document's default applies
		op.Security = &doc.Security
	}
	cut := &openapi3.PathItem{Delete: &op, Parameters: item.Parameters}
	return &openapi3.T{
		OpenAPI:    doc.OpenAPI,
		Paths:      openapi3.NewPaths(openapi3.WithPath(opPath, cut)),
		Components: &openapi3.Components{SecuritySchemes: doc.Components.SecuritySchemes},
	}, nil
}

// spec is our spec's YAML, and the differences placed in it.
type spec struct {
	root  *yaml.Node
	lines []string
	diffs []difference
}

// flatten places each leaf of oasdiff's report below path. side is "changed"
// except below an "added" (upstream-only) or a "deleted" (ours-only), which
// holds names, names by parameter location, or true for the node itself.
func (s *spec) flatten(path []string, node any, side string) {
	m, isMap := node.(map[string]any)
	from, isValue := m["from"]
	switch list, isList := node.([]any); {
	case isList:
		for _, element := range list {
			s.place(side, append(slices.Clip(path), fmt.Sprint(element)), nil)
		}
	case !isMap: // true, or a flag such as enumAdded: true
		s.place(side, path, node)
	case isValue && len(m) == 2:
		switch to := m["to"]; {
		case from == nil || from == "":
			s.place("upstream-only", path, to)
		case to == nil || to == "":
			s.place("ours-only", path, nil)
		default:
			s.place(side, path, to)
		}
	default:
		for _, key := range slices.Sorted(maps.Keys(m)) {
			switch value := m[key]; key {
			case "added":
				s.flatten(path, value, "upstream-only")
			case "deleted":
				s.flatten(path, value, "ours-only")
			case "modified":
				named, _ := value.(map[string]any)
				for _, name := range slices.Sorted(maps.Keys(named)) {
					s.flatten(append(slices.Clip(path), name), named[name], side)
				}
			case "operations", "extensions": // methods under modified; extensions are keys
				s.flatten(path, value, side)
			default:
				s.flatten(append(slices.Clip(path), cmp.Or(yamlKeys[key], key)), value, side)
			}
		}
	}
}

// place finds our spec's deepest node on path, following $refs (a parameter,
// in a list, is not found: its difference is the list's), and records the
// difference there. The README's section "make drift" says when the why
// above that node explains it.
func (s *spec) place(side string, path []string, upstream any) {
	key, node, at, rest := s.root, s.root, []string{}, path
	for len(rest) > 0 {
		if _, ref := pair(node, "$ref"); ref != nil {
			at, node = nil, s.root
			for _, name := range strings.Split(strings.TrimPrefix(ref.Value, "#/"), "/") {
				at = append(at, name)
				key, node = pair(node, name)
			}
		}
		k, v := pair(node, rest[0])
		if v == nil {
			break
		}
		key, node, at, rest = k, v, append(at, k.Value), rest[1:]
	}
	at = append(at, rest...)
	d := difference{line: key.Line, what: side + " " +
		strings.Replace(strings.Join(at, "."), "paths."+opPath+".delete.", "DELETE ", 1)}
	words := []string{} // what the why must say
	if side == "changed" {
		words = append(words, "unlike upstream")
		d.what += fmt.Sprintf(" (upstream: %.60q)", fmt.Sprint(upstream))
	}
	whyAbove := []*yaml.Node{key}
	if len(rest) > 0 { // absent from our spec: named, above its parent or a sibling key or item
		words = append(words, rest[len(rest)-1])
		for i, sibling := range node.Content {
			if node.Kind == yaml.SequenceNode || i%2 == 0 { // a key, not its value
				whyAbove = append(whyAbove, sibling)
			}
		}
	}
	for _, n := range whyAbove {
		why := s.why(n.Line)
		says := why != ""
		for _, word := range words {
			pattern := `(^|[^\w-])` + regexp.QuoteMeta(word) + `($|[^\w-])`
			says = says && regexp.MustCompile(pattern).MatchString(why)
		}
		d.explained = d.explained || says
	}
	s.diffs = append(s.diffs, d)
}

// why returns the block of comment lines directly above line, with its "#"s
// and runs of space made one space, when the block begins "# why:"; else "".
func (s *spec) why(line int) string {
	top := line - 1 // line's index in s.lines
	for top > 0 && strings.HasPrefix(strings.TrimSpace(s.lines[top-1]), "#") {
		top--
	}
	block := strings.TrimSpace(strings.Join(s.lines[top:line-1], "\n"))
	if !strings.HasPrefix(block, "# why:") {
		return ""
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(block, "#", " ")), " ")
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
