// Package contract enforces the OpenAPI document of package openapi at run
// time, with kin-openapi, so that the reference server (atlastest), smoke
// and the tests apply the very same rules: id patterns, response shapes,
// paths and rate limits are read from the spec, never restated in Go.
//
// The operation client does not import this package: a program that only
// calls Atlas links neither kin-openapi nor a YAML parser.
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

	"github.com/atlascontract/deleteorgapikey/openapi"
)

// Operation is the document's one operation, loaded and validated once.
type Operation struct {
	Doc   *openapi3.T         // the whole document
	Path  string              // the path template, /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}
	Op    *openapi3.Operation // the operation under Path
	route *routers.Route
}

var load = sync.OnceValues(func() (*Operation, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openapi.YAML())
	if err == nil {
		err = doc.Validate(context.Background())
	}
	if err != nil || doc.Paths.Len() != 1 {
		return nil, fmt.Errorf("contract: openapi/deleteorgapikey.yaml: want one path: %w", err)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			route := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method}
			route.Operation = op
			return &Operation{Doc: doc, Path: path, Op: op, route: route}, nil
		}
	}
	return nil, errors.New("contract: openapi/deleteorgapikey.yaml has no operation")
})

// MustLoad returns the operation. It panics if openapi/deleteorgapikey.yaml
// is broken: that is a broken build, like a bad regexp.MustCompile literal,
// never a reaction to input, and openapi's tests rule it out. The package's
// other functions panic the same way, and only then.
func MustLoad() *Operation {
	o, err := load()
	if err != nil {
		panic(err)
	}
	return o
}

// APIVersion is the resource version requests name in Accept: the
// x-xgen-version of the 204's versioned media type, as upstream records it.
func APIVersion() string {
	for _, mt := range MustLoad().Op.Responses.Status(http.StatusNoContent).Value.Content {
		if v, ok := mt.Extensions["x-xgen-version"].(string); ok {
			return v
		}
	}
	panic("contract: the 204 names no x-xgen-version")
}

// AcceptHeader is the versioned media type Atlas expects in Accept.
func AcceptHeader() string { return "application/vnd.atlas." + APIVersion() + "+json" }

// RequiredRoles are the roles a caller needs: the operation's x-rolesRequirements.
func RequiredRoles() []string {
	var roles []string
	for _, r := range MustLoad().Op.Extensions["x-rolesRequirements"].([]any) {
		roles = append(roles, r.(string))
	}
	return roles
}

func serviceAccountFlow() *openapi3.OAuthFlow {
	scheme := MustLoad().Doc.Components.SecuritySchemes["ServiceAccounts"]
	return scheme.Value.Flows.ClientCredentials
}

// TokenPath is the path of the service accounts' token endpoint, from the
// ServiceAccounts scheme's tokenUrl: clients and servers append it to
// their base URL.
func TokenPath() string { return urlPath(serviceAccountFlow().TokenURL) }

// RevokePath is the path of the token revocation endpoint, from the
// ServiceAccounts scheme's x-revocation-url.
func RevokePath() string {
	return urlPath(serviceAccountFlow().Extensions["x-revocation-url"].(string))
}

func urlPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(fmt.Sprintf("contract: spec URL %q: %v", raw, err))
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
	err := json.Unmarshal(raw, &b)
	if err != nil || min(b.Capacity, b.Refill, b.PeriodSeconds) < 1 {
		panic(fmt.Sprintf("contract: x-atlas-rate-limit %s: want positive numbers", raw))
	}
	period := time.Duration(b.PeriodSeconds) * time.Second
	return Budget{Capacity: b.Capacity, Refill: b.Refill, Period: period}
}

// ParamError reports a path parameter the spec does not allow.
type ParamError struct {
	Name   string // e.g. "apiUserId"; "path" when the path does not fit the template
	Value  string // the offending value
	Reason string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("invalid path parameter %s=%q: %s", e.Name, e.Value, e.Reason)
}

// CheckParam validates the value of the path parameter name (orgId or
// apiUserId) against its schema: a *ParamError when the spec refuses it.
func CheckParam(name, value string) error {
	p := MustLoad().Op.Parameters.GetByInAndName(openapi3.ParameterInPath, name)
	if p == nil {
		return &ParamError{name, value, "not a path parameter of this operation"}
	}
	if err := p.Schema.Value.VisitJSON(value); err != nil {
		return &ParamError{name, value, "does not match " + p.Schema.Value.Pattern}
	}
	return nil
}

// MatchPath matches the end of an escaped URL path against the operation's
// template and returns the unescaped path parameters, unchecked. Anything
// before the template is taken as the server's base path.
func MatchPath(escapedPath string) (map[string]string, error) {
	template := strings.Split(strings.TrimPrefix(MustLoad().Path, "/"), "/")
	segments := strings.Split(escapedPath, "/")
	if len(segments) < len(template) {
		return nil, &ParamError{"path", escapedPath, "does not match " + MustLoad().Path}
	}
	params := map[string]string{}
	for i, seg := range segments[len(segments)-len(template):] {
		name, isParam := strings.CutPrefix(template[i], "{")
		v, err := url.PathUnescape(seg)
		switch {
		case !isParam && seg != template[i]:
			return nil, &ParamError{"path", escapedPath, "does not match " + MustLoad().Path}
		case err != nil:
			return nil, &ParamError{strings.TrimSuffix(name, "}"), seg, "bad percent-encoding"}
		case isParam:
			params[strings.TrimSuffix(name, "}")] = v
		}
	}
	return params, nil
}

// MaxBody bounds what CheckResponse reads of a body: an ApiError is a few
// hundred bytes, so anything near this is a broken server.
const MaxBody = 1 << 20

// CheckResponse validates a response to the operation with kin-openapi: the
// status must be documented, the declared headers and the JSON body must
// fit their schemas, and a response that documents no body schema (the
// 204) must carry no body. It reads at most MaxBody bytes of the body and
// restores it, so that the caller can still decode it. Its errors begin
// "response <status>".
func CheckResponse(ctx context.Context, resp *http.Response) error {
	breaks := func(format string, args ...any) error {
		args = append([]any{resp.StatusCode}, args...)
		return fmt.Errorf("response %d breaks the spec: "+format, args...)
	}
	if resp.Request == nil {
		return breaks("no request to check it against")
	}
	if _, err := MatchPath(resp.Request.URL.EscapedPath()); err != nil {
		return breaks("the request does not address the operation: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	switch {
	case err != nil:
		return fmt.Errorf("response %d: read body: %w", resp.StatusCode, err)
	case len(body) > MaxBody:
		return breaks("body exceeds %d bytes", MaxBody)
	}
	ref := MustLoad().Op.Responses.Status(resp.StatusCode)
	bodiless := ref != nil && !hasSchema(ref.Value.Content)
	req := &openapi3filter.RequestValidationInput{Request: resp.Request, Route: MustLoad().route}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: bodiless}
	in := &openapi3filter.ResponseValidationInput{RequestValidationInput: req,
		Status: resp.StatusCode, Header: resp.Header, Options: opts}
	in.SetBodyBytes(body)
	switch err := openapi3filter.ValidateResponse(ctx, in); {
	case err != nil:
		return breaks("%w", err)
	case bodiless && len(body) > 0:
		return breaks("it documents no body, got %d bytes", len(body))
	case !bodiless && !json.Valid(body):
		// kin-openapi decodes the first JSON value and ignores what follows
		// it; a strict decoder (the generated client's) refuses such a body.
		return breaks("body is not exactly one JSON value")
	}
	return nil
}

// hasSchema reports whether a response's content declares a body schema.
func hasSchema(content openapi3.Content) bool {
	for _, mt := range content {
		if mt.Schema != nil {
			return true
		}
	}
	return false
}
