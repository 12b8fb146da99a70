package contract

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// The embedded spec's parameters are type+pattern strings and plain
// booleans, so all of them get a fast matcher, and requests a fast path.
func TestFastMatchersFromSpec(t *testing.T) {
	o := MustLoad()
	for _, name := range []string{"orgId", "apiUserId", "envelope", "pretty"} {
		if o.fast[name] == nil {
			t.Errorf("no fast matcher for %s", name)
		}
	}
	if !o.fastPath {
		t.Error("no fast path for requests")
	}
}

// A schema that says anything beyond type and pattern gets no fast
// matcher, so the full kin-openapi check decides.
func TestFastMatcherOnlyForTypeAndPattern(t *testing.T) {
	str := func() *openapi3.Schema {
		return openapi3.NewStringSchema().WithPattern("^[a-f0-9]{24}$")
	}
	if fastMatcher(str()) == nil {
		t.Fatal("type+pattern: no matcher")
	}
	withDesc := str()
	withDesc.Description, withDesc.Example = "d", "4888442a3354817a7320eb61"
	withDesc.Extensions = map[string]any{"x-note": "n"}
	if fastMatcher(withDesc) == nil {
		t.Error("annotations and extensions should not matter")
	}
	for name, s := range map[string]*openapi3.Schema{
		"maxLength": str().WithMaxLength(10),
		"minLength": str().WithMinLength(30),
		"format":    str().WithFormat("uuid"),
		"enum":      str().WithEnum("4888442a3354817a7320eb61"),
		"nullable":  str().WithNullable(),
		"not": func() *openapi3.Schema {
			s := str()
			s.Not = openapi3.NewSchemaRef("", openapi3.NewStringSchema())
			return s
		}(),
		"anyOf": func() *openapi3.Schema {
			s := str()
			s.AnyOf = openapi3.SchemaRefs{openapi3.NewSchemaRef("", openapi3.NewStringSchema())}
			return s
		}(),
		"no type": {Pattern: "^a$"},
		"\\u":     openapi3.NewStringSchema().WithPattern(`^\u0041$`),
		"integer": openapi3.NewIntegerSchema(),
	} {
		if fastMatcher(s) != nil {
			t.Errorf("%s: got a fast matcher", name)
		}
	}
	b := openapi3.NewBoolSchema()
	b.Default = false
	if m := fastMatcher(b); m == nil || !m("true") || !m("false") || m("1") {
		t.Error("plain boolean: want a true/false matcher")
	}
}

// byteClassMatcher decides like the regexp it replaces.
func TestByteClassMatcherAgreesWithRegexp(t *testing.T) {
	for _, pattern := range []string{"^([a-f0-9]{24})$", "^[a-f0-9]{24}$", "^[A-Z_.]{3}$", `^(\d{2})$`} {
		m := byteClassMatcher(pattern)
		if m == nil {
			t.Errorf("%s: no byte matcher", pattern)
			continue
		}
		re := regexp.MustCompile(pattern)
		rng := rand.New(rand.NewPCG(1, 2))
		alphabet := "abcdefABZ_.0129g\\x00\n\u0430%/"
		for range 20000 {
			b := make([]byte, rng.IntN(27))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			if s := string(b); m(s) != re.MatchString(s) {
				t.Fatalf("%s on %q: byte matcher %v, regexp %v", pattern, s, m(s), re.MatchString(s))
			}
		}
		if v := strings.Repeat("0", 24); len(v) == 24 && pattern == "^[a-f0-9]{24}$" && !m(v) {
			t.Errorf("%s refuses %q", pattern, v)
		}
	}
	for _, pattern := range []string{"^[a-f]{2,3}$", "[a-f]{2}", "^[a-f]{2}", "^[a-fа]{2}$", "^a{2}$", "^[a-f]{2}(x)$", "^[^a]{2}$"} {
		if byteClassMatcher(pattern) != nil {
			t.Errorf("%s: got a byte matcher", pattern)
		}
	}
}
