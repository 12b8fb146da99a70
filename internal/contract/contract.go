// Package contract enforces the embedded OpenAPI document at run time, so
// that the client (authedit) and the reference server (atlastest) apply the
// very same rules: parameter patterns, flag syntax and response shapes are
// read from the spec, never restated in Go.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/atlascontract/deleteorgapikey/gen"
)

// Operation is the embedded spec's one operation, loaded and validated once.
type Operation struct {
	Doc      *openapi3.T
	Path     string // the path template, e.g. /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}
	Method   string
	Op       *openapi3.Operation
	route    *routers.Route
	segments []string // Path split on "/", without the leading empty segment

	// fast holds, per parameter name (resolved like CheckParam: path
	// first, then query), a matcher compiled at load time from the
	// parameter's schema, for schemas that constrain nothing beyond their
	// type and, for strings, a pattern. A match means VisitJSON accepts
	// the value; a miss means nothing and the full check runs. Parameters
	// whose schema says more have no entry and always take the full check.
	fast map[string]func(string) bool
	// fastPath is set when every parameter in the template has a fast
	// matcher and the template names both ids CheckRequest checks.
	fastPath bool
}

// load is immutable once computed; sync.OnceValues keeps it free of data races.
var load = sync.OnceValues(func() (*Operation, error) {
	doc, err := gen.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("contract: load embedded spec: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("contract: embedded spec is invalid: %w", err)
	}
	if doc.Paths.Len() != 1 {
		return nil, fmt.Errorf("contract: embedded spec has %d paths, want 1", doc.Paths.Len())
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			o := &Operation{Doc: doc, Path: path, Method: method, Op: op,
				segments: strings.Split(strings.TrimPrefix(path, "/"), "/")}
			o.route = &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
			o.compileFast()
			return o, nil
		}
	}
	return nil, errors.New("contract: embedded spec has no operation")
})

// Load returns the embedded operation. It fails only if gen/ holds a broken
// spec, which the generated-code tests rule out.
func Load() (*Operation, error) { return load() }

// MustLoad is Load for code that cannot go on without the spec (the checks
// below, the reference server). The spec is compiled into gen/ and validated
// by its tests, so failure here is a broken build, like a bad
// regexp.MustCompile literal, never a reaction to input.
func MustLoad() *Operation {
	o, err := load()
	if err != nil {
		panic(err)
	}
	return o
}

// APIVersion is the resource version the spec records in info.x-atlas-api-version.
func APIVersion() string {
	v, _ := MustLoad().Doc.Info.Extensions["x-atlas-api-version"].(string)
	return v
}

// AcceptHeader is the versioned media type Atlas expects in Accept.
func AcceptHeader() string { return acceptHeader() }

var acceptHeader = sync.OnceValue(func() string {
	return "application/vnd.atlas." + APIVersion() + "+json"
})

// ParamError reports a request parameter that the spec does not allow.
// It is the error callers branch on: nothing was sent (client side) or
// nothing was changed (server side).
type ParamError struct {
	In     string // "path" or "query"
	Name   string // e.g. "apiUserId"; "path" when the URL does not fit the template at all
	Value  string // the offending value, quoted and shortened for display
	Reason string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("invalid %s parameter %s=%s: %s", e.In, e.Name, e.Value, e.Reason)
}

// display quotes v and cuts it short, so that hostile values stay readable.
func display(v string) string {
	const max = 64
	if len(v) > max {
		return fmt.Sprintf("%q…(%d bytes)", v[:max], len(v))
	}
	return fmt.Sprintf("%q", v)
}

// CheckParam validates one raw parameter value against its schema in the spec.
func CheckParam(name, value string) error {
	o := MustLoad()
	if m := o.fast[name]; m != nil && m(value) {
		return nil
	}
	return o.checkParamFull(name, value)
}

// checkParamFull is CheckParam with kin-openapi's schema check, which also
// produces the error a rejected value gets.
func (o *Operation) checkParamFull(name, value string) error {
	p := o.Op.Parameters.GetByInAndName(openapi3.ParameterInPath, name)
	if p == nil {
		p = o.Op.Parameters.GetByInAndName(openapi3.ParameterInQuery, name)
	}
	if p == nil {
		return &ParamError{In: "query", Name: name, Value: display(value), Reason: "not a parameter of this operation"}
	}
	var v any = value
	if p.Schema.Value.Type.Is(openapi3.TypeBoolean) {
		switch value {
		case "true":
			v = true
		case "false":
			v = false
		default:
			return &ParamError{In: p.In, Name: name, Value: display(value), Reason: "must be true or false"}
		}
	}
	if err := p.Schema.Value.VisitJSON(v); err != nil {
		reason := "does not match the spec"
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			reason = se.Reason
		}
		return &ParamError{In: p.In, Name: name, Value: display(value), Reason: reason}
	}
	return nil
}

// CheckIDs validates both path ids; the first violation is returned.
func CheckIDs(orgID, apiUserID string) error {
	if err := CheckParam("orgId", orgID); err != nil {
		return err
	}
	return CheckParam("apiUserId", apiUserID)
}

// MatchPath matches the end of an escaped URL path against the operation's
// template and returns the unescaped path parameters. Anything before the
// template is taken as the server's base path.
func MatchPath(escapedPath string) (map[string]string, error) {
	o := MustLoad()
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	if len(segs) < len(o.segments) {
		return nil, &ParamError{In: "path", Name: "path", Value: display(escapedPath), Reason: "does not match " + o.Path}
	}
	segs = segs[len(segs)-len(o.segments):]
	params := make(map[string]string, 2)
	for i, want := range o.segments {
		got := segs[i]
		if name, ok := strings.CutPrefix(want, "{"); ok {
			name = strings.TrimSuffix(name, "}")
			v, err := url.PathUnescape(got)
			if err != nil {
				return nil, &ParamError{In: "path", Name: name, Value: display(got), Reason: "bad percent-encoding"}
			}
			params[name] = v
			continue
		}
		if got != want {
			return nil, &ParamError{In: "path", Name: "path", Value: display(escapedPath), Reason: "does not match " + o.Path}
		}
	}
	return params, nil
}

// ValidateRequest is CheckRequest without the parameters: nil or the same
// error. A valid request without query or percent-encoding in its ids is
// checked without allocating; anything else takes CheckRequest.
func ValidateRequest(r *http.Request) error {
	if MustLoad().validFast(r) {
		return nil
	}
	_, err := CheckRequest(r)
	return err
}

// validFast reports whether r certainly passes CheckRequest. false means
// only that CheckRequest has to decide: it accepts a subset (no query, no
// percent-encoded segments) and stops at the first doubt.
func (o *Operation) validFast(r *http.Request) bool {
	if !o.fastPath || r.URL.Opaque != "" || r.URL.RawQuery != "" {
		return false
	}
	// The template's segments, matched from the end like MatchPath.
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	for i := len(o.segments) - 1; i >= 0; i-- {
		var seg string
		if j := strings.LastIndexByte(p, '/'); j >= 0 {
			seg, p = p[j+1:], p[:j]
		} else if i == 0 {
			seg, p = p, ""
		} else {
			return false // fewer segments than the template
		}
		want := o.segments[i]
		name, isParam := strings.CutPrefix(want, "{")
		if !isParam {
			if seg != want {
				return false
			}
			continue
		}
		if strings.IndexByte(seg, '%') >= 0 {
			return false // escaped: leave the unescaping to MatchPath
		}
		if m := o.fast[strings.TrimSuffix(name, "}")]; m == nil || !m(seg) {
			return false
		}
	}
	return true
}

// CheckRequest validates a request to the operation: the path against the
// template and patterns, and each declared query flag (at most once, and
// true or false). Authentication is not its concern.
func CheckRequest(r *http.Request) (map[string]string, error) {
	if r.URL.Opaque != "" { // the request line would come from Opaque, unchecked
		return nil, &ParamError{In: "path", Name: "path", Value: display(r.URL.Opaque), Reason: "opaque URLs are not allowed"}
	}
	params, err := MatchPath(r.URL.EscapedPath())
	if err != nil {
		return nil, err
	}
	if err := CheckIDs(params["orgId"], params["apiUserId"]); err != nil {
		return nil, err
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &ParamError{In: "query", Name: "query", Value: display(r.URL.RawQuery), Reason: "bad query encoding"}
	}
	for _, p := range MustLoad().Op.Parameters {
		if p.Value.In != openapi3.ParameterInQuery {
			continue
		}
		vs, ok := query[p.Value.Name]
		if !ok {
			continue
		}
		if len(vs) > 1 {
			return nil, &ParamError{In: "query", Name: p.Value.Name, Value: display(strings.Join(vs, ",")), Reason: "given more than once"}
		}
		if err := CheckParam(p.Value.Name, vs[0]); err != nil {
			return nil, err
		}
	}
	return params, nil
}

// ResponseError reports a response that breaks the spec.
type ResponseError struct {
	Status int
	Reason string
	Err    error
}

func (e *ResponseError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("response %d breaks the spec: %s: %v", e.Status, e.Reason, e.Err)
	}
	return fmt.Sprintf("response %d breaks the spec: %s", e.Status, e.Reason)
}

func (e *ResponseError) Unwrap() error { return e.Err }

// CheckResponse validates a response to req with kin-openapi: the status
// must be documented, the declared headers and JSON body must fit their
// schemas, and a response documented without content must carry no body.
func CheckResponse(ctx context.Context, req *http.Request, status int, header http.Header, body []byte) error {
	o := MustLoad()
	params, err := MatchPath(req.URL.EscapedPath())
	if err != nil {
		return &ResponseError{Status: status, Reason: "request does not address the operation", Err: err}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: o.route,
		},
		Status:  status,
		Header:  header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: false},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return &ResponseError{Status: status, Reason: "kin-openapi validation", Err: err}
	}
	ref := o.Op.Responses.Status(status)
	if ref != nil && len(ref.Value.Content) == 0 && len(bytes.TrimSpace(body)) > 0 {
		return &ResponseError{Status: status, Reason: fmt.Sprintf("spec documents no body, got %d bytes", len(body))}
	}
	// kin-openapi decodes the first JSON value and ignores what follows it;
	// a strict decoder (the generated client's) rejects such a body.
	if ref != nil && len(ref.Value.Content) > 0 && !json.Valid(body) {
		return &ResponseError{Status: status, Reason: "body is not exactly one JSON value"}
	}
	return nil
}

// MaxBody bounds what CheckHTTPResponse reads of a body: an ApiError is a
// few hundred bytes, so anything near this is a broken server.
const MaxBody = 1 << 20

// CheckHTTPResponse is CheckResponse for a received *http.Response; it reads
// (at most MaxBody bytes) and restores the body so the caller can still
// decode it.
func CheckHTTPResponse(ctx context.Context, resp *http.Response) error {
	if resp.Request == nil {
		return &ResponseError{Status: resp.StatusCode, Reason: "response carries no request to check it against"}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return &ResponseError{Status: resp.StatusCode, Reason: "read body", Err: err}
	}
	if len(body) > MaxBody {
		return &ResponseError{Status: resp.StatusCode, Reason: fmt.Sprintf("body exceeds %d bytes", MaxBody)}
	}
	return CheckResponse(ctx, resp.Request, resp.StatusCode, resp.Header, body)
}

// TokenPath and RevokePath are the service-account endpoints' paths, read
// from the ServiceAccounts scheme (tokenUrl and x-revocation-url) so that
// client and server derive them from one place: <base URL> + path.
func TokenPath() string { return flowPath("tokenUrl") }

// RevokePath: see TokenPath.
func RevokePath() string { return flowPath("x-revocation-url") }

func flowPath(field string) string {
	flow := MustLoad().Doc.Components.SecuritySchemes["ServiceAccounts"].Value.Flows.ClientCredentials
	raw := flow.TokenURL
	if field != "tokenUrl" {
		raw, _ = flow.Extensions[field].(string)
	}
	u, err := url.Parse(raw)
	if err != nil {
		panic(fmt.Sprintf("contract: spec %s %q: %v", field, raw, err)) // compiled-in spec, see MustLoad
	}
	return u.Path
}

// annotations are schema keywords that validate nothing.
var annotations = map[string]bool{
	"description": true, "example": true, "examples": true, "default": true,
	"title": true, "deprecated": true, "externalDocs": true,
}

// compileFast derives o.fast and o.fastPath from the parameters' schemas.
// A schema qualifies when, once annotations (and x- extensions) are
// dropped from its JSON form, it has exactly "type" ("string" with a
// "pattern", or "boolean") and nothing else: those are the only keywords
// VisitJSON then checks, so the matcher decides the same. A pattern with
// \u escapes, which kin-openapi rewrites before compiling, does not
// qualify.
func (o *Operation) compileFast() {
	o.fast = map[string]func(string) bool{}
	for _, in := range []string{openapi3.ParameterInQuery, openapi3.ParameterInPath} { // path last: it wins, like in CheckParam
		for _, ref := range o.Op.Parameters {
			p := ref.Value
			if p == nil || p.In != in || p.Schema == nil || p.Schema.Value == nil {
				continue
			}
			if m := fastMatcher(p.Schema.Value); m != nil {
				o.fast[p.Name] = m
			} else {
				delete(o.fast, p.Name)
			}
		}
	}
	o.fastPath = true
	names := map[string]bool{}
	for _, seg := range o.segments {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			name = strings.TrimSuffix(name, "}")
			names[name] = true
			if o.Op.Parameters.GetByInAndName(openapi3.ParameterInPath, name) == nil || o.fast[name] == nil {
				o.fastPath = false
			}
		}
	}
	if !names["orgId"] || !names["apiUserId"] {
		o.fastPath = false
	}
}

// fastMatcher returns a matcher for s, or nil when s constrains more than
// compileFast allows.
func fastMatcher(s *openapi3.Schema) func(string) bool {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	var kw map[string]json.RawMessage
	if err := json.Unmarshal(raw, &kw); err != nil {
		return nil
	}
	for k := range kw {
		if annotations[k] || strings.HasPrefix(k, "x-") {
			delete(kw, k)
		}
	}
	switch {
	case len(kw) == 1 && s.Type.Is(openapi3.TypeBoolean):
		// CheckParam turns "true" and "false" into booleans; anything
		// else is refused before VisitJSON.
		return func(v string) bool { return v == "true" || v == "false" }
	case len(kw) == 2 && s.Type.Is(openapi3.TypeString) && s.Pattern != "" && !strings.Contains(s.Pattern, `\u`):
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return nil
		}
		if m := byteClassMatcher(s.Pattern); m != nil {
			return m
		}
		return re.MatchString
	}
	return nil
}

// byteClassMatcher compiles a pattern of the form ^[class]{n}$ (the
// repetition optionally in a group), with an ASCII-only class, into a
// length check and a byte table; nil for any other pattern. It decides
// exactly what regexp.MatchString decides for that pattern.
func byteClassMatcher(pattern string) func(string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) != 3 ||
		re.Sub[0].Op != syntax.OpBeginText || re.Sub[2].Op != syntax.OpEndText {
		return nil
	}
	rep := re.Sub[1]
	if rep.Op == syntax.OpCapture {
		rep = rep.Sub[0]
	}
	if rep.Op != syntax.OpRepeat || rep.Min != rep.Max || rep.Min < 1 || rep.Sub[0].Op != syntax.OpCharClass {
		return nil
	}
	var table [256]bool
	ranges := rep.Sub[0].Rune
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo < 0 || hi >= utf8.RuneSelf {
			return nil
		}
		for c := lo; c <= hi; c++ {
			table[c] = true
		}
	}
	n := rep.Min
	return func(v string) bool {
		if len(v) != n {
			return false
		}
		for i := 0; i < len(v); i++ {
			if !table[v[i]] {
				return false
			}
		}
		return true
	}
}
