package authedit

import (
	"context"
	"net/http"
	"slices"

	"github.com/atlascontract/deleteorgapikey/contract"
	"github.com/atlascontract/deleteorgapikey/gen"
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
// "https://cloud.mongodb.com"). It fails like NewTransport.
func NewClient(baseURL string, creds Credentials, opts ...Option) (*Client, error) {
	t, err := NewTransport(baseURL, creds, opts...)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: t, Timeout: t.cfg.timeout}
	if tmpl := t.cfg.client; tmpl != nil {
		hc.Jar, hc.CheckRedirect = tmpl.Jar, tmpl.CheckRedirect
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

// DeleteOrgApiKeyWithResponse is DeleteOrgApiKey with the response parsed.
func (c *Client) DeleteOrgApiKeyWithResponse(ctx context.Context, orgID gen.OrgId, apiUserID gen.ApiUserId, params *gen.DeleteOrgApiKeyParams, reqEditors ...gen.RequestEditorFn) (*gen.DeleteOrgApiKeyResponse, error) {
	if err := contract.CheckIDs(orgID, apiUserID); err != nil {
		return nil, err
	}
	return c.ClientWithResponses.DeleteOrgApiKeyWithResponse(ctx, orgID, apiUserID, params, validateLast(reqEditors)...)
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
