package authedit

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Option configures NewClient and NewTransport.
type Option func(*config)

type config struct {
	insecureHTTP bool
	base         http.RoundTripper
	timeout      time.Duration
	retry        RetryPolicy
	store        *FileTokenStore
	now          func() time.Time                                 // the token cache's time; tests move it
	sleep        func(ctx context.Context, d time.Duration) error // the retry waits: d, or until ctx ends
}

// WithInsecureHTTP allows cleartext http to hosts that are not loopback.
func WithInsecureHTTP() Option { return func(c *config) { c.insecureHTTP = true } }

// WithTransport sets the RoundTripper below (default http.DefaultTransport).
func WithTransport(rt http.RoundTripper) Option { return func(c *config) { c.base = rt } }

// WithTimeout bounds a call, retries included (default 30 s; 0: none).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Transport authenticates and retries requests to its base URL's origin only.
type Transport struct {
	origin string
	base   string            // base URL without a trailing slash
	bare   http.RoundTripper // cfg.base behind the guard
	authed http.RoundTripper // bare, authenticated, retried
	tokens *tokenCache       // service accounts only
	cfg    config
}

// NewTransport fails with a *CredentialsError, *CleartextError or URL error.
func NewTransport(baseURL string, creds Credentials, opts ...Option) (*Transport, error) {
	cfg := config{timeout: 30 * time.Second, now: time.Now, sleep: sleep}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.base == nil {
		cfg.base = http.DefaultTransport
	}
	cfg.retry = cfg.retry.withDefaults()
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("authedit: base URL: %w", err)
	}
	if s := strings.ToLower(u.Scheme); s != "https" && s != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("authedit: base URL %q: want https://host[:port][/path], no user info (pass Credentials), query or fragment", u.Redacted())
	}
	if err := checkCleartext(u, cfg.insecureHTTP); err != nil {
		return nil, err
	}
	if err := validateCredentials(creds); err != nil {
		return nil, err
	}
	t := &Transport{origin: originOf(u), base: strings.TrimSuffix(u.String(), "/"), cfg: cfg}
	t.bare = roundTripFunc(t.guard)
	// Retries wrap authentication, so every attempt is authenticated afresh
	// (next digest nc, current token) and passes the guard again.
	t.authed = &retrier{next: creds.authenticate(t, t.bare), policy: cfg.retry, sleep: cfg.sleep}
	return t, nil
}

// RoundTrip sends req as Transport says, its answer's body capped at 1 MiB.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := t.authed
	if originOf(req.URL) != t.origin { // credentials belong to the base URL's origin
		rt = t.bare
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, status: resp.StatusCode, left: contract.MaxBody}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the RoundTripper below.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.cfg.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// guard, above the base transport, sees every request: it refuses cleartext
// to hosts not loopback (by URL) and sets our User-Agent where none is.
func (t *Transport) guard(req *http.Request) (*http.Response, error) {
	if err := checkCleartext(req.URL, t.cfg.insecureHTTP); err != nil {
		closeBody(req)
		return nil, err
	}
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context()) // a RoundTripper must not change its request
		req.Header.Set("User-Agent", userAgent())
	}
	return t.cfg.base.RoundTrip(req)
}

// originOf is scheme://host:port, lower-cased, with the default port explicit.
func originOf(u *url.URL) string {
	scheme, port := strings.ToLower(u.Scheme), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// CleartextError reports http to a host other than loopback; nothing was sent.
type CleartextError struct {
	Host string // host[:port] of the refused URL
}

func (e *CleartextError) Error() string {
	return fmt.Sprintf("authedit: refusing cleartext http to non-loopback host %q (use https, or opt in with WithInsecureHTTP)", e.Host)
}

// checkCleartext refuses http to hosts but loopback addresses and "localhost",
// resolving no name: DNS is no evidence that traffic stays on this machine.
func checkCleartext(u *url.URL, insecure bool) error {
	if insecure || !strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Hostname(), "localhost") {
		return nil
	}
	host, _, _ := strings.Cut(u.Hostname(), "%") // IPv6 zone
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return &CleartextError{Host: u.Host}
}

// closeBody closes a refused request's body, as RoundTrippers must.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
