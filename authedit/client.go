package authedit

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Client is the generated client with everything wired in: ids checked
// against the spec before a request is built, versioned Accept,
// User-Agent, authentication and the cleartext guard.
type Client struct {
	*gen.ClientWithResponses
	transport *Transport
}

var (
	_ gen.ClientInterface              = (*Client)(nil)
	_ gen.ClientWithResponsesInterface = (*Client)(nil)
)

// NewClient returns a ready client for baseURL (e.g.
// "https://cloud.mongodb.com"). It fails like NewTransport. The client
// follows no redirect (see RedirectError).
func NewClient(baseURL string, creds Credentials, opts ...Option) (*Client, error) {
	t, err := NewTransport(baseURL, creds, opts...)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: t, CheckRedirect: refuseRedirect, Timeout: t.cfg.timeout}
	if tmpl := t.cfg.client; tmpl != nil {
		hc.Jar = tmpl.Jar
	}
	inner, err := gen.NewClientWithResponses(baseURL,
		gen.WithHTTPClient(hc),
		gen.WithRequestEditorFn(SetAccept),
		gen.WithRequestEditorFn(SetUserAgent),
		gen.WithRequestEditorFn(ValidateRequest),
	)
	if err != nil {
		return nil, err
	}
	return &Client{ClientWithResponses: inner, transport: t}, nil
}

// DeleteOrgApiKey checks orgID and apiUserID against the spec, returning a
// *ParamError without sending anything if one does not match, then calls
// the generated method, whose client-level editor validates the built
// request. When reqEditors are given, the request is validated once more
// after them.
func (c *Client) DeleteOrgApiKey(ctx context.Context, orgID gen.OrgId, apiUserID gen.ApiUserId, params *gen.DeleteOrgApiKeyParams, reqEditors ...gen.RequestEditorFn) (*http.Response, error) {
	if err := contract.CheckIDs(orgID, apiUserID); err != nil {
		return nil, err
	}
	return c.ClientWithResponses.ClientInterface.DeleteOrgApiKey(ctx, orgID, apiUserID, params, validateLast(reqEditors)...)
}

// DeleteOrgApiKeyWithResponse is DeleteOrgApiKey with the response parsed
// by the generated parser, made lenient so that an answer is never lost
// to what that parser cannot bind:
//
//   - A header the spec types as an integer (RateLimit-Limit,
//     RateLimit-Remaining, Retry-After) whose value is not one, such as the
//     IETF draft's "100, 100;w=60", "1.5" or a Retry-After HTTP-date, is
//     left out of the Headers* struct. HTTPResponse keeps every header as
//     received, and APIError and the retry layer read Retry-After dates.
//   - A body that is not what its Content-Type says (a proxy's HTML page
//     labelled JSON) is left in Body, undecoded: the JSON* fields are nil.
//
// smoke reports such answers as off-contract; a client only must not lose
// them. A body longer than 1 MiB is a *BodyTooLargeError.
func (c *Client) DeleteOrgApiKeyWithResponse(ctx context.Context, orgID gen.OrgId, apiUserID gen.ApiUserId, params *gen.DeleteOrgApiKeyParams, reqEditors ...gen.RequestEditorFn) (*gen.DeleteOrgApiKeyResponse, error) {
	rsp, err := c.DeleteOrgApiKey(ctx, orgID, apiUserID, params, reqEditors...)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(rsp.Body)
	_ = rsp.Body.Close()
	if err != nil {
		return nil, err
	}
	view := *rsp
	view.Header = bindable(rsp.StatusCode, rsp.Header)
	view.Body = io.NopCloser(bytes.NewReader(body))
	r, err := gen.ParseDeleteOrgApiKeyResponse(&view)
	if err != nil { // the body is not what its Content-Type says
		view.Header.Del("Content-Type")
		view.Body = io.NopCloser(bytes.NewReader(body))
		if r, err = gen.ParseDeleteOrgApiKeyResponse(&view); err != nil {
			return nil, err
		}
	}
	r.HTTPResponse = rsp
	return r, nil
}

// bindable is a copy of h without the headers that the spec declares as
// integers for status and whose (first) value is not one.
func bindable(status int, h http.Header) http.Header {
	h = h.Clone()
	r := contract.MustLoad().Op.Responses.Status(status)
	if r == nil || r.Value == nil {
		return h
	}
	for name, hr := range r.Value.Headers {
		s := hr.Value.Schema
		if v := h.Get(name); v != "" && s != nil && s.Value.Type.Is("integer") {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				h.Del(name)
			}
		}
	}
	return h
}

// Transport returns the authenticating transport under the client.
func (c *Client) Transport() *Transport { return c.transport }

// Revoke revokes the client's cached service-account token; see Transport.Revoke.
func (c *Client) Revoke(ctx context.Context) error { return c.transport.Revoke(ctx) }

// validateLast appends ValidateRequest after the caller's editors, which
// run after the client's own and could have changed the URL. With no
// editors the client's own ValidateRequest has already seen the final
// request, so nothing is appended.
func validateLast(editors []gen.RequestEditorFn) []gen.RequestEditorFn {
	if len(editors) == 0 {
		return nil
	}
	return append(slices.Clip(editors), ValidateRequest)
}
