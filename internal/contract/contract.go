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

	doc   *openapi3.T
	route *routers.Route
}

// load validates the spec once. Validation also compiles every schema
// pattern, which kin-openapi then keeps: the id checks below match with
// that one compiled regexp.
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
			route := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
			return &Operation{Path: path, Op: op, doc: doc, route: route}, nil
		}
	}
	return nil, errors.New("contract: embedded spec has no operation")
})

// Load returns the embedded operation. It fails only if gen/ holds a broken
// spec, which the generated-code tests rule out.
func Load() (*Operation, error) { return load() }

// MustLoad is Load for code that cannot go on without the spec. The spec is
// compiled into gen/ and validated by its tests, so failure here is a
// broken build, like a bad regexp.MustCompile literal, never a reaction to
// input.
func MustLoad() *Operation {
	o, err := load()
	if err != nil {
		panic(err)
	}
	return o
}

// APIVersion is the resource version the spec records in info.x-atlas-api-version.
func APIVersion() string {
	v, _ := MustLoad().doc.Info.Extensions["x-atlas-api-version"].(string)
	return v
}

// AcceptHeader is the versioned media type Atlas expects in Accept.
func AcceptHeader() string { return "application/vnd.atlas." + APIVersion() + "+json" }

// TokenPath and RevokePath are the service-account endpoints' paths, read
// from the ServiceAccounts scheme (tokenUrl and x-revocation-url) so that
// client and server derive them from one place: <base URL> + path.
func TokenPath() string { return flowPath("tokenUrl") }

// RevokePath: see TokenPath.
func RevokePath() string { return flowPath("x-revocation-url") }

func serviceAccountFlow() *openapi3.OAuthFlow {
	return MustLoad().doc.Components.SecuritySchemes["ServiceAccounts"].Value.Flows.ClientCredentials
}

func flowPath(field string) string {
	flow := serviceAccountFlow()
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
		panic(fmt.Sprintf("contract: spec x-atlas-rate-limit %s: want positive capacity, refill and periodSeconds", raw)) // compiled-in spec, see MustLoad
	}
	return Budget{Capacity: b.Capacity, Refill: b.Refill, Period: time.Duration(b.PeriodSeconds) * time.Second}
}

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

// CheckParam validates one raw parameter value (path first, then query)
// against its schema in the spec. Booleans must be exactly true or false.
func CheckParam(name, value string) error {
	params := MustLoad().Op.Parameters
	p := params.GetByInAndName(openapi3.ParameterInPath, name)
	if p == nil {
		p = params.GetByInAndName(openapi3.ParameterInQuery, name)
	}
	if p == nil {
		return &ParamError{In: "query", Name: name, Value: display(value), Reason: "not a parameter of this operation"}
	}
	var v any = value
	if p.Schema.Value.Type.Is(openapi3.TypeBoolean) {
		if value != "true" && value != "false" {
			return &ParamError{In: p.In, Name: name, Value: display(value), Reason: "must be true or false"}
		}
		v = value == "true"
	}
	if err := p.Schema.Value.VisitJSON(v); err != nil {
		reason := "does not match the spec"
		if se := (*openapi3.SchemaError)(nil); errors.As(err, &se) {
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
	template := MustLoad().Path
	want := strings.Split(strings.TrimPrefix(template, "/"), "/")
	got := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	mismatch := &ParamError{In: "path", Name: "path", Value: display(escapedPath), Reason: "does not match " + template}
	if len(got) < len(want) {
		return nil, mismatch
	}
	got = got[len(got)-len(want):]
	params := map[string]string{}
	for i, w := range want {
		name, isParam := strings.CutPrefix(w, "{")
		if !isParam {
			if got[i] != w {
				return nil, mismatch
			}
			continue
		}
		name = strings.TrimSuffix(name, "}")
		v, err := url.PathUnescape(got[i])
		if err != nil {
			return nil, &ParamError{In: "path", Name: name, Value: display(got[i]), Reason: "bad percent-encoding"}
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
		vs, ok := query[p.Value.Name]
		if p.Value.In != openapi3.ParameterInQuery || !ok {
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

// ValidateRequest is CheckRequest for callers that need only the verdict.
func ValidateRequest(r *http.Request) error {
	_, err := CheckRequest(r)
	return err
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
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: o.route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return &ResponseError{Status: status, Reason: "kin-openapi validation", Err: err}
	}
	ref := o.Op.Responses.Status(status) // documented: ValidateResponse refused the others
	switch {
	case ref == nil:
	case len(ref.Value.Content) == 0 && len(bytes.TrimSpace(body)) > 0:
		return &ResponseError{Status: status, Reason: fmt.Sprintf("spec documents no body, got %d bytes", len(body))}
	case len(ref.Value.Content) > 0 && !json.Valid(body):
		// kin-openapi decodes the first JSON value and ignores what follows
		// it; a strict decoder (the generated client's) rejects such a body.
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
