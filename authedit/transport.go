package authedit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds each request (connection, redirects, reading the
// body) made by a Client, and each token or revocation request.
const DefaultTimeout = 30 * time.Second

// Option configures NewClient and NewTransport.
type Option func(*config)

type config struct {
	insecureHTTP bool
	base         http.RoundTripper
	client       *http.Client
	timeout      time.Duration
	timeoutSet   bool
	retry        RetryPolicy
	tokenStore   TokenStore // store.go
}

// WithInsecureHTTP allows cleartext http to hosts that are not loopback.
// Without it such URLs are refused, at construction and per request.
func WithInsecureHTTP() Option { return func(c *config) { c.insecureHTTP = true } }

// WithTransport sets the base RoundTripper under authentication
// (default: http.DefaultTransport, or the Transport of WithHTTPClient).
func WithTransport(rt http.RoundTripper) Option { return func(c *config) { c.base = rt } }

// WithHTTPClient makes NewClient start from a copy of hc: its Jar,
// Timeout (if non-zero) and Transport (as the base, unless WithTransport
// is given) are kept. Its CheckRedirect is not: a Client follows no
// redirect (see RedirectError). hc itself is not modified.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.client = hc } }

// WithTimeout sets the http.Client Timeout of NewClient's client and of
// token requests; 0 disables it. The default is DefaultTimeout. For
// NewClient's client it bounds a call with all its retries: net/http puts
// it on the call's context as a deadline, which the retry layer honours.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout, c.timeoutSet = d, true }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.base == nil && c.client != nil {
		c.base = c.client.Transport
	}
	if c.base == nil {
		c.base = http.DefaultTransport
	}
	c.retry = c.retry.withDefaults()
	if !c.timeoutSet {
		c.timeout = DefaultTimeout
		if c.client != nil && c.client.Timeout != 0 {
			c.timeout = c.client.Timeout
		}
	}
	return c
}

// ErrNotServiceAccount is returned by Revoke for credentials that have no
// token to revoke (digest API keys).
var ErrNotServiceAccount = errors.New("authedit: only service-account credentials have tokens to revoke")

// Transport is an http.RoundTripper that authenticates requests to one
// Atlas base URL and retries them as its RetryPolicy says. Use it directly
// with any http.Client, or through NewClient. Requests to other origins (a
// redirect elsewhere) are sent once and without credentials; cleartext http
// to non-loopback hosts is refused.
type Transport struct {
	base    *url.URL
	origin  string
	guarded http.RoundTripper // base transport behind the cleartext guard
	authed  http.RoundTripper // guarded, wrapped by the credentials' scheme, wrapped by the retrier
	tokens  *tokenCache       // service accounts only
	cfg     config
}

// NewTransport returns a Transport authenticating with creds to baseURL
// (e.g. "https://cloud.mongodb.com"). Errors: *CredentialsError for
// unusable credentials, *CleartextError for http to a non-loopback host
// without WithInsecureHTTP, and a plain error for a malformed base URL.
func NewTransport(baseURL string, creds Credentials, opts ...Option) (*Transport, error) {
	cfg := newConfig(opts)
	u, err := parseBaseURL(baseURL, cfg.insecureHTTP)
	if err != nil {
		return nil, err
	}
	switch c := creds.(type) {
	case nil:
		return nil, &CredentialsError{}
	case *ServiceAccount:
		if c == nil {
			return nil, &CredentialsError{}
		}
	case *APIKey:
		if c == nil {
			return nil, &CredentialsError{}
		}
	}
	if err := creds.validate(); err != nil {
		return nil, err
	}
	t := &Transport{base: u, origin: originOf(u), cfg: cfg}
	t.guarded = guard{next: cfg.base, insecure: cfg.insecureHTTP}
	// The retry layer wraps the authenticating one, so every attempt is
	// authenticated afresh (next digest nc, current bearer token) and passes
	// the cleartext guard again. It is there even with retries off, to fill
	// in RetryInfo.
	t.authed = &retrier{next: creds.authenticate(t, t.guarded), policy: cfg.retry}
	return t, nil
}

// RoundTrip implements http.RoundTripper. The body of every answer ends
// with a *BodyTooLargeError after 1 MiB.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := t.authed
	if originOf(req.URL) != t.origin {
		// Credentials belong to the base URL's origin; like net/http, which
		// drops Authorization on redirects to another host, send the rest bare.
		rt = t.guarded
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = newCappedBody(resp)
	return resp, nil
}

// CloseIdleConnections closes idle connections of the base transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.cfg.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Revoke revokes the cached access token at the spec's revocation endpoint
// and drops it, so the next request fetches a new one. With no token cached
// it does nothing. It returns ErrNotServiceAccount for API keys and a
// *TokenError when the server refuses.
func (t *Transport) Revoke(ctx context.Context) error {
	if t.tokens == nil {
		return ErrNotServiceAccount
	}
	return t.tokens.revoke(ctx)
}

// endpoint is the base URL joined with a spec path (token, revocation).
func (t *Transport) endpoint(path string) string {
	return strings.TrimSuffix(t.base.String(), "/") + path
}

// parseBaseURL accepts absolute http(s) URLs without user info, query or
// fragment, and applies the cleartext rule.
func parseBaseURL(raw string, insecure bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("authedit: base URL: %w", err)
	}
	switch {
	case !strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http"):
		return nil, fmt.Errorf("authedit: base URL %q: scheme must be https or http", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("authedit: base URL %q: no host", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("authedit: base URL %q: must not carry user info; pass Credentials", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("authedit: base URL %q: must not have a query or fragment", u.Redacted())
	}
	if err := checkCleartext(u, insecure); err != nil {
		return nil, err
	}
	return u, nil
}

// originOf is scheme://host:port, lower-cased and with the default port
// made explicit, for comparing where a request goes with the base URL.
func originOf(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), portOf(u))
}

// portOf is u's port, or the scheme's default port for http and https.
func portOf(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return port
}
