package authedit

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Client calls the operation, checking ids against the spec first.
type Client struct {
	api       *gen.Client
	transport *Transport
}

var (
	_ gen.ClientInterface              = (*Client)(nil)
	_ gen.ClientWithResponsesInterface = (*Client)(nil)
)

// NewClient returns a client for baseURL; see NewTransport, BaseURLFromEnv.
func NewClient(baseURL string, creds Credentials, opts ...Option) (*Client, error) {
	t, err := NewTransport(baseURL, creds, opts...)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: t, CheckRedirect: refuseRedirect, Timeout: t.cfg.timeout}
	api, err := gen.NewClient(baseURL, gen.WithHTTPClient(hc), gen.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Accept", contract.AcceptHeader()) // Atlas requires a versioned one
		return nil
	}))
	if err != nil {
		return nil, err
	}
	return &Client{api: api, transport: t}, nil
}

// DeleteOrgApiKey refuses ids or flags the spec does not allow: *ParamError.
func (c *Client) DeleteOrgApiKey(ctx context.Context, orgID gen.OrgId, apiUserID gen.ApiUserId, params *gen.DeleteOrgApiKeyParams, reqEditors ...gen.RequestEditorFn) (*http.Response, error) {
	// The generated request builder resolves "." and ".." away, so the raw
	// ids are checked first; the built request last, after every editor.
	if err := contract.CheckIDs(orgID, apiUserID); err != nil {
		return nil, err
	}
	return c.api.DeleteOrgApiKey(ctx, orgID, apiUserID, params, append(slices.Clip(reqEditors), validate)...)
}

// DeleteOrgApiKeyWithResponse parses the answer, leaving out what won't bind.
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

// bindable is a copy of h without the headers the spec types as integers
// for status whose value is not one, which the generated parser would fail on.
func bindable(status int, h http.Header) http.Header {
	h = h.Clone()
	if r := contract.MustLoad().Op.Responses.Status(status); r != nil && r.Value != nil {
		for name, hr := range r.Value.Headers {
			s := hr.Value.Schema
			if v := h.Get(name); v != "" && s != nil && s.Value.Type.Is("integer") {
				if _, err := strconv.ParseInt(v, 10, 64); err != nil {
					h.Del(name)
				}
			}
		}
	}
	return h
}

// Revoke revokes the service-account token the client holds, if any.
func (c *Client) Revoke(ctx context.Context) error {
	if c.transport.tokens == nil {
		return ErrNotServiceAccount
	}
	return c.transport.tokens.revoke(ctx)
}

func validate(_ context.Context, req *http.Request) error { return contract.ValidateRequest(req) }

// userAgent is "deleteorgapikey/<version> (+github.com/atlascontract/deleteorgapikey)",
// the version this module was built at, or "devel".
var userAgent = sync.OnceValue(func() string {
	const mod = "github.com/atlascontract/deleteorgapikey"
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range append(bi.Deps, &bi.Main) {
			if r := cmp.Or(m.Replace, m); m.Path == mod && r.Version != "" && r.Version != "(devel)" {
				v = r.Version
			}
		}
	}
	return "deleteorgapikey/" + v + " (+" + mod + ")"
})
