package deleteorgapikey

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
)

// Values the spec states. A test holds each equal to the spec.
const (
	// acceptHeader names the resource version: Atlas refuses a request
	// without one (406).
	acceptHeader = "application/vnd.atlas.2023-01-01+json"
)

const userAgent = "deleteorgapikey (+https://github.com/atlascontract/deleteorgapikey)"

// Client calls "Remove One Organization API Key" of the Atlas
// Administration API. It is safe for concurrent use.
type Client struct {
	server    string // the base URL with a trailing slash, as gen's request builder takes it
	hc        *http.Client
	transport *authedit.Transport
	policy    RetryPolicy
	timeout   time.Duration
}

var (
	_ gen.ClientInterface              = (*Client)(nil)
	_ gen.ClientWithResponsesInterface = (*Client)(nil)
)

// Option configures NewClient.
type Option func(*Client)

// WithRetry sets the retry policy; see RetryPolicy for its defaults.
// WithRetry(RetryPolicy{MaxAttempts: 1}) sends every request once.
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.policy = p } }

// WithTimeout bounds each call, retries and reading the answer included.
// The default is 30 seconds; 0 means no bound but the context's.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithTransport sets the RoundTripper that sends requests below
// authentication. The default is http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *Client) { c.transport.Base = rt }
}

// WithTokenStore makes a service account share its tokens with other
// processes through s. See authedit.FileTokenStore.
func WithTokenStore(s *authedit.FileTokenStore) Option {
	return func(c *Client) { c.transport.TokenStore = s }
}

// WithInsecureHTTP allows cleartext http to hosts that are not loopback.
// Without it, NewClient refuses such a base URL with an
// *authedit.CleartextError.
func WithInsecureHTTP() Option { return func(c *Client) { c.transport.AllowInsecureHTTP = true } }

// NewClient returns a client for the Atlas at baseURL, such as
// "https://cloud.mongodb.com" (authedit.BaseURLFromEnv reads it from the
// environment), that authenticates with creds.
// It fails as authedit.NewTransport does, and refuses cleartext http to a
// host that is not loopback unless WithInsecureHTTP allows it.
func NewClient(baseURL string, creds authedit.Credentials, opts ...Option) (*Client, error) {
	t, err := authedit.NewTransport(baseURL, creds)
	if err != nil {
		return nil, err
	}
	c := &Client{
		server:    strings.TrimSuffix(baseURL, "/") + "/",
		hc:        &http.Client{Transport: t, CheckRedirect: refuseRedirect},
		transport: t,
		timeout:   30 * time.Second,
	}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	c.policy = c.policy.withDefaults()
	// The Transport refuses cleartext at each request; NewClient refuses it
	// at once, by the same rule, so that a wrong base URL fails early.
	if u, _ := url.Parse(baseURL); !t.AllowInsecureHTTP && !encryptedOrLocal(u) {
		return nil, &authedit.CleartextError{Host: u.Host}
	}
	return c, nil
}

// encryptedOrLocal reports whether u is https, or http to "localhost" or a
// loopback address: what the Transport's own check lets go when it sends.
func encryptedOrLocal(u *url.URL) bool {
	host, _, _ := strings.Cut(u.Hostname(), "%") // an IPv6 zone
	ip := net.ParseIP(host)
	return !strings.EqualFold(u.Scheme, "http") || strings.EqualFold(host, "localhost") ||
		ip != nil && ip.IsLoopback()
}

// DeleteOrgApiKey is the generated client's method, through this client's
// checks and retries.
// It refuses an id that the spec's pattern does not match with a
// *ParamError, and sends nothing.
// The answer is Atlas's, whatever its status; reading more than 1 MiB of
// its body fails with a *BodyTooLargeError.
// The caller must close the body.
func (c *Client) DeleteOrgApiKey(ctx context.Context, orgID gen.OrgId, keyID gen.ApiUserId,
	params *gen.DeleteOrgApiKeyParams, reqEditors ...gen.RequestEditorFn) (*http.Response, error) {
	return c.send(ctx, orgID, keyID, params, reqEditors, &sent{})
}

// DeleteOrgApiKeyWithResponse is DeleteOrgApiKey with the answer parsed,
// Atlas's ApiError included.
// A malformed rate-limit header, or a body that is not the JSON its
// Content-Type says, is left out of the parsed answer instead of failing it;
// HTTPResponse still has them.
func (c *Client) DeleteOrgApiKeyWithResponse(ctx context.Context, orgID gen.OrgId,
	keyID gen.ApiUserId, params *gen.DeleteOrgApiKeyParams,
	reqEditors ...gen.RequestEditorFn) (*gen.DeleteOrgApiKeyResponse, error) {
	res, err := c.DeleteOrgApiKey(ctx, orgID, keyID, params, reqEditors...)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, err
	}
	view := *res
	view.Header = res.Header.Clone()
	for _, name := range []string{"Ratelimit-Limit", "Ratelimit-Remaining", "Retry-After"} {
		if _, err := strconv.Atoi(view.Header.Get(name)); err != nil {
			view.Header.Del(name)
		}
	}
	view.Body = io.NopCloser(bytes.NewReader(body))
	r, err := gen.ParseDeleteOrgApiKeyResponse(&view)
	if err != nil {
		view.Header.Del("Content-Type")
		view.Body = io.NopCloser(bytes.NewReader(body))
		if r, err = gen.ParseDeleteOrgApiKeyResponse(&view); err != nil {
			return nil, err
		}
	}
	r.HTTPResponse = res
	return r, nil
}

// Revoke revokes the service-account token the client holds, so that it
// cannot be used after the job; the next call mints another.
// It returns nil at once for an API key. The client's timeout bounds it.
func (c *Client) Revoke(ctx context.Context) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.transport.Revoke(ctx)
}

// bound returns ctx bounded by the client's timeout.
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// send checks the ids, builds the request, and sends it through the retry
// loop, which records in s what it did. Closing the answer's body ends the
// call's context.
func (c *Client) send(ctx context.Context, orgID, keyID string, params *gen.DeleteOrgApiKeyParams,
	editors []gen.RequestEditorFn, s *sent) (*http.Response, error) {
	// The generated request builder resolves "." and ".." away, so the ids
	// are checked before it sees them.
	if err := checkIDs(orgID, keyID); err != nil {
		return nil, err
	}
	req, err := gen.NewDeleteOrgApiKeyRequest(c.server, orgID, keyID, params)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.bound(ctx)
	req = req.WithContext(ctx)
	req.Header.Set("Accept", acceptHeader)
	req.Header.Set("User-Agent", userAgent)
	for _, edit := range editors {
		if err := edit(ctx, req); err != nil {
			cancel()
			return nil, err
		}
	}
	res, err := c.retry(req, s)
	if err != nil {
		cancel()
		return nil, err
	}
	res.Body = &cappedBody{rc: res.Body, status: res.StatusCode, left: maxBody, cancel: cancel}
	return res, nil
}

// checkIDs returns a *ParamError for the first id the spec's pattern refuses.
func checkIDs(orgID, keyID string) error {
	for _, p := range [...]struct{ name, value string }{{"orgId", orgID}, {"apiUserId", keyID}} {
		if !isID(p.value) {
			return &ParamError{Name: p.name, Value: p.value}
		}
	}
	return nil
}

// isID reports whether s fits the spec's pattern of both ids,
// ^([a-f0-9]{24})$: 24 lowercase hexadecimal digits. It is written out, not
// a regexp, so that a one-shot program spends no start-up compiling one.
func isID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
