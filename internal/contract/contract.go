// Package contract enforces the embedded OpenAPI document at run time, so
// that the client (authedit) and the reference server (atlastest) apply the
// very same rules: parameter patterns, flag syntax, response shapes, paths
// and rate limits are read from the spec, never restated in Go.
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
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/atlascontract/deleteorgapikey/gen"
)

// Operation is the embedded spec's one operation, loaded and validated once.
type Operation struct {
	Path string // the path template, e.g. /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}
	Op   *openapi3.Operation

	route *routers.Route
	path  *regexp.Regexp // matches an escaped URL path ending in Path
}

// load validates the spec once; kin-openapi then keeps every schema pattern
// compiled, which CheckParam matches ids with.
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
			// Each {name} becomes a group name matching one escaped segment;
			// anything before the template is the server's base path.
			expr := regexp.MustCompile(`\\\{(\w+)\\\}`).ReplaceAllString(regexp.QuoteMeta(path), `(?P<$1>[^/]*)`)
			return &Operation{
				Path:  path,
				Op:    op,
				route: &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op},
				path:  regexp.MustCompile(`(?:^|/)` + strings.TrimPrefix(expr, "/") + `$`),
			}, nil
		}
	}
	return nil, errors.New("contract: embedded spec has no operation")
})

// Load returns the embedded operation. It fails only if gen/ holds a broken
// spec, which the generated-code tests rule out.
func Load() (*Operation, error) { return load() }

// MustLoad is Load that panics: a broken compiled-in spec is a broken build,
// like a bad regexp.MustCompile literal, never a reaction to input. The
// package's other functions panic the same way, and only then.
func MustLoad() *Operation {
	o, err := load()
	if err != nil {
		panic(err)
	}
	return o
}

// APIVersion is the resource version the spec records in info.x-atlas-api-version.
func APIVersion() string {
	v, _ := MustLoad().route.Spec.Info.Extensions["x-atlas-api-version"].(string)
	return v
}

// AcceptHeader is the versioned media type Atlas expects in Accept.
func AcceptHeader() string { return "application/vnd.atlas." + APIVersion() + "+json" }

func serviceAccountFlow() *openapi3.OAuthFlow {
	return MustLoad().route.Spec.Components.SecuritySchemes["ServiceAccounts"].Value.Flows.ClientCredentials
}

// TokenPath and RevokePath are the service-account endpoints' paths, from
// the ServiceAccounts scheme's tokenUrl and x-revocation-url: client and
// server append them to their base URL.
func TokenPath() string { return urlPath(serviceAccountFlow().TokenURL) }

// RevokePath: see TokenPath.
func RevokePath() string { return urlPath(serviceAccountFlow().Extensions["x-revocation-url"]) }

func urlPath(raw any) string {
	s, _ := raw.(string)
	u, err := url.Parse(s)
	if err != nil {
		panic(fmt.Sprintf("contract: spec URL %q: %v", s, err))
	}
	return u.Path
}

// Budget is a rate limit the spec records in an x-atlas-rate-limit
// extension: a bucket of Capacity requests that regains Refill every Period.
type Budget struct {
	Capacity, Refill int
	Period           time.Duration
}

// OperationBudget is the operation's budget, per organization.
func OperationBudget() Budget { return budget(MustLoad().Op.Extensions) }

// TokenBudget is the token endpoint's budget, per client.
func TokenBudget() Budget { return budget(serviceAccountFlow().Extensions) }

func budget(extensions map[string]any) Budget {
	raw, _ := json.Marshal(extensions["x-atlas-rate-limit"])
	var b struct{ Capacity, Refill, PeriodSeconds int }
	if err := json.Unmarshal(raw, &b); err != nil || b.Capacity < 1 || b.Refill < 1 || b.PeriodSeconds < 1 {
		panic(fmt.Sprintf("contract: spec x-atlas-rate-limit %s: want positive capacity, refill and periodSeconds", raw))
	}
	return Budget{Capacity: b.Capacity, Refill: b.Refill, Period: time.Duration(b.PeriodSeconds) * time.Second}
}

// ParamError reports a request parameter that the spec does not allow:
// nothing was sent (client side) or changed (server side).
type ParamError struct {
	In     string // "path" or "query"
	Name   string // e.g. "apiUserId"; "path" when the URL does not fit the template at all
	Value  string // the offending value, quoted and shortened for display
	Reason string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("invalid %s parameter %s=%s: %s", e.In, e.Name, e.Value, e.Reason)
}

// paramError quotes value, cut short so that hostile values stay readable.
func paramError(in, name, value, reason string) *ParamError {
	const max = 64
	shown := fmt.Sprintf("%q", value)
	if len(value) > max {
		shown = fmt.Sprintf("%q…(%d bytes)", value[:max], len(value))
	}
	return &ParamError{In: in, Name: name, Value: shown, Reason: reason}
}

// CheckParam validates one raw parameter value (path first, then query)
// against its schema in the spec. Booleans must be exactly true or false.
func CheckParam(name, value string) error {
	params := MustLoad().Op.Parameters
	p := params.GetByInAndName(openapi3.ParameterInPath, name)
	if p == nil {
		p = params.GetByInAndName(openapi3.ParameterInQuery, name)
	}
	if p == nil {
		return paramError("query", name, value, "not a parameter of this operation")
	}
	var v any = value
	if p.Schema.Value.Type.Is(openapi3.TypeBoolean) {
		if value != "true" && value != "false" {
			return paramError(p.In, name, value, "must be true or false")
		}
		v = value == "true"
	}
	if err := p.Schema.Value.VisitJSON(v); err != nil {
		reason := "does not match the spec"
		if se := (*openapi3.SchemaError)(nil); errors.As(err, &se) {
			reason = se.Reason
		}
		return paramError(p.In, name, value, reason)
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
	m := o.path.FindStringSubmatch(escapedPath)
	if m == nil {
		return nil, paramError("path", "path", escapedPath, "does not match "+o.Path)
	}
	params := map[string]string{}
	for i, name := range o.path.SubexpNames()[1:] {
		v, err := url.PathUnescape(m[i+1])
		if err != nil {
			return nil, paramError("path", name, m[i+1], "bad percent-encoding")
		}
		params[name] = v
	}
	return params, nil
}

// CheckRequest validates a request to the operation: the path against the
// template and patterns, and each declared query flag (at most once, and
// true or false). Authentication is not its concern.
func CheckRequest(r *http.Request) (map[string]string, error) {
	if r.URL.Opaque != "" { // the request line would come from Opaque, unchecked
		return nil, paramError("path", "path", r.URL.Opaque, "opaque URLs are not allowed")
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
		return nil, paramError("query", "query", r.URL.RawQuery, "bad query encoding")
	}
	for _, p := range MustLoad().Op.Parameters {
		vs, ok := query[p.Value.Name]
		if p.Value.In != openapi3.ParameterInQuery || !ok {
			continue
		}
		if len(vs) > 1 {
			return nil, paramError("query", p.Value.Name, strings.Join(vs, ","), "given more than once")
		}
		if err := CheckParam(p.Value.Name, vs[0]); err != nil {
			return nil, err
		}
	}
	return params, nil
}

// ValidateRequest is CheckRequest for callers that need only the verdict.
func ValidateRequest(r *http.Request) error {
	_, err := CheckRequest(r)
	return err
}

// CheckResponse validates a response to req with kin-openapi: the status
// must be documented, the declared headers and JSON body must fit their
// schemas, and a response documented without content must carry no body.
// Its errors begin "response <status> breaks the spec".
func CheckResponse(ctx context.Context, req *http.Request, status int, header http.Header, body []byte) error {
	o := MustLoad()
	params, err := MatchPath(req.URL.EscapedPath())
	if err != nil {
		return fmt.Errorf("response %d breaks the spec: request does not address the operation: %w", status, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: o.route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return fmt.Errorf("response %d breaks the spec: %w", status, err)
	}
	ref := o.Op.Responses.Status(status) // documented: ValidateResponse refused the others
	switch {
	case ref == nil:
	case len(ref.Value.Content) == 0 && len(bytes.TrimSpace(body)) > 0:
		return fmt.Errorf("response %d breaks the spec: it documents no body, got %d bytes", status, len(body))
	case len(ref.Value.Content) > 0 && !json.Valid(body):
		// kin-openapi decodes the first JSON value and ignores what follows
		// it; a strict decoder (the generated client's) rejects such a body.
		return fmt.Errorf("response %d breaks the spec: body is not exactly one JSON value", status)
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
		return fmt.Errorf("response %d: no request to check it against", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("response %d: read body: %w", resp.StatusCode, err)
	}
	if len(body) > MaxBody {
		return fmt.Errorf("response %d breaks the spec: body exceeds %d bytes", resp.StatusCode, MaxBody)
	}
	return CheckResponse(ctx, resp.Request, resp.StatusCode, resp.Header, body)
}
