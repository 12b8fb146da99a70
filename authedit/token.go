package authedit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// TokenError reports a failed token or revocation request. It holds no
// request or response, so it cannot leak the client secret however it is
// printed or logged; the text it copies from the endpoint's answer
// (ErrorCode, Description) has the client secret and anything that looks
// like a secret replaced by "[redacted]" (see redact).
type TokenError struct {
	Op          string // "token" or "revoke"
	StatusCode  int    // HTTP status, 0 if no response arrived
	ErrorCode   string // RFC 6749 "error", e.g. "invalid_client"
	Description string // RFC 6749 "error_description"
	Err         error  // the transport error when no response arrived

	RetryAfter time.Duration // a 429's Retry-After; 0 if absent (store.go)
}

func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("authedit: " + e.Op + " request failed")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.ErrorCode != "" {
		fmt.Fprintf(&b, ": %s", e.ErrorCode)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, " (%s)", e.Description)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *TokenError) Unwrap() error { return e.Err }

// Is matches ErrUnauthorized for a 401 or RFC 6749's invalid_client (a
// wrong client id or secret), and ErrRateLimited and ErrServerError by
// status.
func (e *TokenError) Is(target error) bool {
	return target == ErrUnauthorized && e.ErrorCode == "invalid_client" || statusIs(target, e.StatusCode)
}

// tokenCache hands out one Bearer token until shortly before it expires.
//
// oauth2.ReuseTokenSource already serialises (it holds its mutex across the
// fetch), but it can neither drop a token the API rejected nor honour the
// caller's context, and its margin is a fixed 10 s. So: a one-slot
// semaphore makes a cold cache fetch exactly once however many goroutines
// ask (waiters give up when their context ends), and a lock-free fast path
// serves warm calls.
//
// A failed fetch is shared the same way: every goroutine that was waiting
// while it ran gets its error instead of fetching again in turn, so 64
// calls with a wrong secret cost one token request, not 64. A call that
// starts waiting after the failure was recorded fetches afresh. A fetch
// ended by its own caller's context is not shared: the waiters, whose
// contexts may be fine, fetch themselves.
type tokenCache struct {
	fetch    func(context.Context) (*oauth2.Token, error)
	revokeFn func(context.Context, string) error
	sem      chan struct{}
	cur      atomic.Pointer[cachedToken]
	last     atomic.Pointer[fetchResult] // the latest completed fetch; written only under sem
	now      func() time.Time
}

type cachedToken struct {
	tok       *oauth2.Token
	auth      string    // the Authorization value tok.SetAuthHeader sets
	refreshAt time.Time // zero: no expiry known, keep until rejected
}

// fetchResult records one completed fetch. Each fetch stores a new value,
// so comparing pointers tells whether a fetch completed in between.
type fetchResult struct {
	err error // nil when the fetch succeeded (the token is in cur)
}

// maxRefreshMargin is how long before expiry a token is replaced; short
// lived tokens are replaced after 90% of their lifetime instead.
const maxRefreshMargin = time.Minute

func (c *tokenCache) fresh() *cachedToken {
	ct := c.cur.Load()
	if ct == nil || (!ct.refreshAt.IsZero() && !c.now().Before(ct.refreshAt)) {
		return nil
	}
	return ct
}

func (c *tokenCache) lock(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *tokenCache) unlock() { <-c.sem }

// token returns the cached token, fetching one if there is none or it is
// about to expire.
func (c *tokenCache) token(ctx context.Context) (*cachedToken, error) {
	if t := c.fresh(); t != nil {
		return t, nil
	}
	seen := c.last.Load()
	if err := c.lock(ctx); err != nil {
		return nil, err
	}
	defer c.unlock()
	if t := c.fresh(); t != nil { // fetched by another goroutine while we waited
		return t, nil
	}
	if r := c.last.Load(); r != seen && r.err != nil { // failed while we waited
		return nil, r.err
	}
	fetchedAt := c.now()
	t, err := c.fetch(ctx)
	if err != nil {
		// Share the failure with the waiters only when it is not this
		// caller's own deadline: a dial can time out on the deadline a
		// moment before ctx reports it.
		if dl, ok := ctx.Deadline(); ctx.Err() == nil && (!ok || time.Now().Before(dl)) {
			c.last.Store(&fetchResult{err: err})
		}
		return nil, err
	}
	ct := &cachedToken{tok: t, auth: t.Type() + " " + t.AccessToken}
	if !t.Expiry.IsZero() {
		ct.refreshAt = t.Expiry.Add(-min(maxRefreshMargin, t.Expiry.Sub(fetchedAt)/10))
	}
	c.cur.Store(ct)
	c.last.Store(&fetchResult{})
	return ct, nil
}

// drop forgets bad unless another goroutine has already replaced it, so
// that simultaneous 401s on one token cause a single refetch.
func (c *tokenCache) drop(bad *oauth2.Token) {
	if ct := c.cur.Load(); ct != nil && ct.tok == bad {
		c.cur.CompareAndSwap(ct, nil)
	}
}

// revoke revokes and drops the cached token; the semaphore keeps a
// concurrent fetch from racing with it.
func (c *tokenCache) revoke(ctx context.Context) error {
	if err := c.lock(ctx); err != nil {
		return err
	}
	defer c.unlock()
	ct := c.cur.Load()
	if ct == nil {
		return nil
	}
	if err := c.revokeFn(ctx, ct.tok.AccessToken); err != nil {
		return err
	}
	c.cur.CompareAndSwap(ct, nil)
	return nil
}

// authenticate sets up the token cache on t and returns the Bearer layer.
func (c ServiceAccount) authenticate(t *Transport, next http.RoundTripper) http.RoundTripper {
	// Token and revocation requests: same guard, no redirects (a 3xx is an
	// error, never a re-POST of the credentials elsewhere).
	hc := &http.Client{
		Transport:     userAgent{next},
		Timeout:       t.cfg.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cc := &clientcredentials.Config{
		ClientID:     c.ClientID,
		ClientSecret: string(c.ClientSecret),
		TokenURL:     t.endpoint(contract.TokenPath()),
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	revokeURL := t.endpoint(contract.RevokePath())
	t.tokens = &tokenCache{
		sem: make(chan struct{}, 1),
		now: time.Now,
		fetch: func(ctx context.Context) (*oauth2.Token, error) {
			tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
			if err != nil {
				return nil, tokenError("token", err, string(c.ClientSecret))
			}
			return tok, nil
		},
		revokeFn: func(ctx context.Context, token string) error {
			return revokeToken(ctx, hc, revokeURL, c, token)
		},
	}
	t.reuseTokens(cc.TokenURL, c.ClientID) // store.go: TokenStore, token-endpoint Retry-After
	return &bearer{tokens: t.tokens, next: next}
}

// tokenError converts what oauth2 returns into a *TokenError, keeping the
// status and RFC 6749 fields, redacted, but not the *http.Response (whose
// request carries the Basic credentials).
func tokenError(op string, err error, secret string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		te := &TokenError{Op: op, ErrorCode: redact(re.ErrorCode, secret), Description: redact(re.ErrorDescription, secret)}
		if re.Response != nil {
			te.StatusCode = re.Response.StatusCode
			te.RetryAfter, _ = parseRetryAfter(re.Response.Header) // store.go
		}
		return te
	}
	return &TokenError{Op: op, Err: err}
}

// revokeToken posts token to the revocation endpoint (RFC 7009) with the
// client credentials in HTTP Basic, form-encoded first as RFC 6749 2.3.1
// asks and as the token request does.
func revokeToken(ctx context.Context, hc *http.Client, endpoint string, c ServiceAccount, token string) error {
	form := url.Values{"token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form))
	if err != nil {
		return &TokenError{Op: "revoke", Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(string(c.ClientSecret)))
	resp, err := hc.Do(req)
	if err != nil {
		return &TokenError{Op: "revoke", Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	te := &TokenError{Op: "revoke", StatusCode: resp.StatusCode}
	var rfc struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &rfc) == nil {
		te.ErrorCode, te.Description = redact(rfc.Error, string(c.ClientSecret)), redact(rfc.Description, string(c.ClientSecret))
	}
	return te
}

// secretLike is a run of 20 or more characters that may make up a secret
// or its encoding: Atlas client secrets (mdb_sa_sk_...), API private keys
// (UUIDs), a Basic header echoed back in base64.
var secretLike = regexp.MustCompile(`[A-Za-z0-9_.~+/=-]{20,}`)

// redact replaces in s, text a token endpoint sent, the client's secret
// (as is and URL-escaped, as the Basic header carries it) and every run
// that looks like a secret: secretLike with both letters and digits. Ids
// of that shape are lost too, which is the price of never printing a
// secret the endpoint chose to echo.
func redact(s, secret string) string {
	if secret != "" {
		s = strings.ReplaceAll(s, secret, redacted)
		s = strings.ReplaceAll(s, url.QueryEscape(secret), redacted)
	}
	return secretLike.ReplaceAllStringFunc(s, func(run string) string {
		if strings.ContainsAny(run, "0123456789") && strings.ContainsFunc(run, unicode.IsLetter) {
			return redacted
		}
		return run
	})
}

// bearer adds the cached token. A 401 drops that token and the request is
// retried once with a fresh one; a second 401 goes back to the caller.
type bearer struct {
	tokens *tokenCache
	next   http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	ct, err := b.tokens.token(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := b.next.RoundTrip(withAuth(req, ct.auth))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // the body is spent and cannot be replayed
	}
	discard(resp)
	b.tokens.drop(ct.tok)
	fresh, err := b.tokens.token(ctx)
	if err != nil {
		return nil, err
	}
	r := withAuth(req, fresh.auth)
	if req.GetBody != nil {
		if r.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return b.next.RoundTrip(r)
}

// withAuth is a copy of req (a RoundTripper must not modify its request)
// with Authorization: auth.
func withAuth(req *http.Request, auth string) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", auth)
	return r
}

// discard drains a little of a response we will not return, so its
// connection can be reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
}

// userAgent sets User-Agent on requests this package makes itself.
type userAgent struct{ next http.RoundTripper }

func (u userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("User-Agent", UserAgent())
	return u.next.RoundTrip(r)
}
