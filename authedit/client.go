package authedit

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

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
	hc := &http.Client{Transport: t, CheckRedirect: refuseRedirect}
	if tmpl := t.cfg.client; tmpl != nil {
		hc.Jar = tmpl.Jar
	}
	inner, err := gen.NewClientWithResponses(baseURL,
		gen.WithHTTPClient(&timeoutClient{hc: hc, timeout: t.cfg.timeout}),
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

// timeoutClient is an http.Client with Timeout, done with a context
// deadline. http.Client.Timeout on a RoundTripper that net/http does not
// know (ours) costs a goroutine, a timer, channels and about 20
// allocations per call; a deadline on the request's context, which
// net/http uses for its own transports, bounds the same things: the
// connection, every redirect, all retries, and reading the body, until the
// body is closed. Errors are those of http.Client.Timeout: a *url.Error
// whose Err says "(Client.Timeout exceeded while awaiting headers)", a
// body read failing with "(Client.Timeout or context cancellation while
// reading body)", both net.Error timeouts matching
// context.DeadlineExceeded. Like http.Client, it does nothing when the
// request's context already ends sooner.
type timeoutClient struct {
	hc      *http.Client // without Timeout
	timeout time.Duration
}

func (c *timeoutClient) Do(req *http.Request) (*http.Response, error) {
	if c.timeout <= 0 {
		return c.hc.Do(req)
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := req.Context().Deadline(); ok && !deadline.Before(d) {
		return c.hc.Do(req)
	}
	ctx, cancel := context.WithDeadline(req.Context(), deadline)
	resp, err := c.hc.Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		if ue, ok := err.(*url.Error); ok && time.Now().After(deadline) {
			ue.Err = &timeoutError{ue.Err.Error() + " (Client.Timeout exceeded while awaiting headers)"}
		}
		return nil, err
	}
	resp.Body = &timeoutBody{rc: resp.Body, stop: cancel, deadline: deadline}
	return resp, nil
}

// timeoutBody is net/http's cancelTimerBody: it ends the deadline at EOF
// or when closed, and names the timeout in read errors after it.
type timeoutBody struct {
	rc       io.ReadCloser
	stop     context.CancelFunc
	deadline time.Time
}

func (b *timeoutBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.stop() // like net/http: the whole body is in, the deadline has done its job
	}
	if err == nil || err == io.EOF {
		return n, err
	}
	if time.Now().After(b.deadline) {
		err = &timeoutError{err.Error() + " (Client.Timeout or context cancellation while reading body)"}
	}
	return n, err
}

func (b *timeoutBody) Close() error {
	err := b.rc.Close()
	b.stop()
	return err
}

// timeoutError is net/http's error for an http.Client.Timeout.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }
func (e *timeoutError) Is(err error) bool {
	return err == context.DeadlineExceeded
}
