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
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The service-account endpoints, below the base URL: the spec's tokenUrl
// and x-revocation-url.
const (
	tokenPath  = "/api/oauth/token"
	revokePath = "/api/oauth/revoke"
)

// TokenError is a failed token or revocation request.
// Its text holds neither the client secret nor anything shaped like a
// secret that the endpoint echoed.
type TokenError struct {
	Op         string // "token" or "revoke"
	StatusCode int    // the answer's status; 0 when no answer came
	// ErrorCode is RFC 6749's error, such as "invalid_client", or Atlas's
	// errorCode, such as "RATE_LIMITED".
	ErrorCode string
	// Description is RFC 6749's error_description, Atlas's detail, or why
	// the token in a 200 answer was refused.
	Description string
	// RetryAfter is a 429's Retry-After. No token request is made before
	// it has passed: the Transport returns the 429 with the time left.
	RetryAfter time.Duration
	Err        error // why no answer came
}

// Error says which request failed and what the endpoint answered.
func (e *TokenError) Error() string {
	s := "the " + e.Op + " request failed"
	if e.StatusCode != 0 {
		s = fmt.Sprintf("the %s request got HTTP %d", e.Op, e.StatusCode)
	}
	if e.ErrorCode != "" {
		s += " " + e.ErrorCode
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %v", e.RetryAfter.Round(time.Millisecond))
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *TokenError) Unwrap() error { return e.Err }

// tokenError reads a refusal from the token or revocation endpoint: an
// RFC 6749 error, or an Atlas ApiError such as its 429.
func tokenError(op string, res *http.Response, body []byte, secret string) *TokenError {
	var b struct {
		Error       any    `json:"error"` // a string in RFC 6749, the status in an ApiError
		Description string `json:"error_description"`
		ErrorCode   string `json:"errorCode"`
		Detail      string `json:"detail"`
	}
	_ = json.Unmarshal(body, &b)
	if b.ErrorCode == "" {
		b.ErrorCode, _ = b.Error.(string)
		b.Detail = b.Description
	}
	e := &TokenError{Op: op, StatusCode: res.StatusCode,
		ErrorCode: redact(b.ErrorCode, secret), Description: redact(b.Detail, secret)}
	if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	return e
}

// secretLike is a run that may be a secret or its encoding: Atlas client
// secrets (mdb_sa_sk_...), private keys (UUIDs), a Basic header in base64.
// It is compiled on first use: a one-shot program that never meets a
// refusal spends no start-up on it.
var secretLike = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`[A-Za-z0-9_.~+/=-]{20,}`)
})

// redact hides, in text an endpoint sent, the secret, plain and URL-escaped,
// and every secretLike run that mixes letters and digits, ids of that
// shape included. A secret under 8 characters is more likely a word of the
// message, such as "wrong", and stays.
func redact(s, secret string) string {
	if len(secret) >= 8 {
		s = strings.ReplaceAll(s, secret, redacted)
		s = strings.ReplaceAll(s, url.QueryEscape(secret), redacted)
	}
	return secretLike().ReplaceAllStringFunc(s, func(run string) string {
		if strings.ContainsAny(run, "0123456789") && strings.ContainsFunc(run, unicode.IsLetter) {
			return redacted
		}
		return run
	})
}

// checkToken refuses a token this package cannot send, before it is cached
// or stored. RFC 6749 section 7.1 forbids using a token type the client
// does not understand, and only Bearer is understood here. A token outside
// RFC 6750's b64token syntax, such as one with CR or LF in it, cannot be
// sent in a header.
func checkToken(tok *oauth2.Token) error {
	e := &TokenError{Op: "token", StatusCode: http.StatusOK}
	switch {
	case tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "Bearer"):
		e.Description = fmt.Sprintf("token_type %.40q is not Bearer", tok.TokenType)
	case !b64token(tok.AccessToken):
		e.Description = "the access token is not an RFC 6750 b64token"
	default:
		return nil
	}
	return e
}

// authenticate sets up t's token cache and returns the Bearer layer.
// Token and revocation requests pass t.guard and follow no redirect: a 3xx
// is an error, never the credentials posted elsewhere.
func (c ServiceAccount) authenticate(t *Transport, baseURL string) http.RoundTripper {
	secret := string(c.ClientSecret)
	// Atlas reads the client id and secret in HTTP Basic as they are, not
	// form-encoded first as RFC 6749 section 2.3.1 asks (reported: MongoDB's
	// own MCP server sends them raw). x/oauth2 encodes them, so every token
	// and revocation request gets them again here, raw.
	raw := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		req = req.Clone(req.Context())
		req.SetBasicAuth(c.ClientID, secret)
		return t.guard(req)
	})
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc := &http.Client{Transport: raw, CheckRedirect: noRedirect}
	cc := &clientcredentials.Config{ClientID: c.ClientID, ClientSecret: secret,
		TokenURL: baseURL + tokenPath, AuthStyle: oauth2.AuthStyleInHeader}
	key := storeKey(cc.TokenURL, c.ClientID, secret)
	tc := &tokenCache{t: t, key: key, sem: make(chan struct{}, 1)}
	tc.request = func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.Response != nil:
			return nil, tokenError("token", re.Response, re.Body, secret)
		case err != nil:
			return nil, &TokenError{Op: "token", Err: err}
		}
		return tok, checkToken(tok)
	}
	tc.revokeToken = func(ctx context.Context, token string) error {
		// RFC 7009, the client authenticated as in the token request.
		form := strings.NewReader(url.Values{"token": {token}}.Encode())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+revokePath, form)
		if err != nil {
			return &TokenError{Op: "revoke", Err: err}
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := hc.Do(req)
		if err != nil {
			return &TokenError{Op: "revoke", Err: err}
		}
		defer res.Body.Close()
		if res.StatusCode/100 == 2 {
			return nil
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		return tokenError("revoke", res, body, secret)
	}
	t.tokens = tc
	return &bearer{tokens: tc, next: roundTripFunc(t.guard)}
}

// maxRefreshMargin is how long before its expiry a token is replaced. A
// token that lives shorter than ten minutes is replaced after 90% of its
// life instead.
const maxRefreshMargin = time.Minute

// tokenCache hands out one token until shortly before it expires.
// Unlike oauth2.ReuseTokenSource, it drops a token the API rejected, heeds
// the contexts of the callers waiting, and shares a failed fetch with
// them: 64 calls with a wrong secret make one token request.
type tokenCache struct {
	t           *Transport // its TokenStore is read at each fetch
	key         string     // the account's entry in the store
	request     func(context.Context) (*oauth2.Token, error)
	revokeToken func(context.Context, string) error
	sem         chan struct{} // held while fetching or revoking

	mu      sync.Mutex
	cur     *oauth2.Token // a copy whose Expiry is when to replace it
	err     error         // the last fetch's failure; nil after a success
	fetches int           // fetches completed, failed ones included

	// Under sem:
	handed       string      // the access token last put in cur
	limited      *TokenError // the token endpoint's last 429...
	limitedUntil time.Time   // ...and the end of its Retry-After
}

// state returns the token if it is fresh, the fetches so far and the last
// fetch's failure.
func (c *tokenCache) state() (*oauth2.Token, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && (c.cur.Expiry.IsZero() || time.Now().Before(c.cur.Expiry)) {
		return c.cur, c.fetches, nil
	}
	return nil, c.fetches, c.err
}

// drop forgets tok, unless another token replaced it already: then
// simultaneous 401s cause one fetch.
func (c *tokenCache) drop(tok *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == tok {
		c.cur = nil
	}
}

func (c *tokenCache) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// token returns the cached token, fetching one if none is fresh.
func (c *tokenCache) token(ctx context.Context) (*oauth2.Token, error) {
	tok, seen, _ := c.state()
	if tok != nil {
		return tok, nil
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-c.sem }()
	tok, fetches, err := c.state()
	switch {
	case tok != nil: // fetched while we waited
		return tok, nil
	case fetches != seen && err != nil: // failed while we waited
		return nil, err
	}
	fetchedAt := time.Now()
	tok, err = c.fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		// A failure of ctx's making is not shared; a dial can fail on
		// the deadline a moment before ctx reports it.
		if dl, ok := ctx.Deadline(); ctx.Err() == nil && (!ok || time.Now().Before(dl)) {
			c.err = err
			c.fetches++
		}
		return nil, err
	}
	cur := *tok
	if !tok.Expiry.IsZero() {
		cur.Expiry = tok.Expiry.Add(-min(maxRefreshMargin, tok.Expiry.Sub(fetchedAt)/10))
	}
	c.handed = tok.AccessToken
	c.cur, c.err = &cur, nil
	c.fetches++
	return &cur, nil
}

// fetch takes the stored token, or mints one and stores it. It does so
// under the store's lock, so that processes starting together mint one.
// A store that fails counts as none.
func (c *tokenCache) fetch(ctx context.Context) (*oauth2.Token, error) {
	store := c.t.TokenStore
	if store == nil {
		return c.mint(ctx)
	}
	unlock, err := store.lock(ctx, c.key)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return c.mint(ctx)
	}
	defer unlock()
	// A token handed out before is fetched again only when the API
	// rejected it or it expires: either way it is no use to anyone.
	if tok, ok := store.load(c.key); ok {
		fresh := time.Now().Before(tok.Expiry.Add(-maxRefreshMargin))
		if fresh && tok.AccessToken != c.handed {
			return tok, nil
		}
		store.remove(c.key)
	}
	tok, err := c.mint(ctx)
	if err == nil && !tok.Expiry.IsZero() { // a token of unknown lifetime is not shared
		_ = store.save(c.key, tok)
	}
	return tok, err
}

// mint makes one token request, unless the last 429's Retry-After is
// still running: then it returns that 429 with the time left.
func (c *tokenCache) mint(ctx context.Context) (*oauth2.Token, error) {
	if left := time.Until(c.limitedUntil); c.limited != nil && left > 0 {
		e := *c.limited
		e.RetryAfter = left
		return nil, &e
	}
	tok, err := c.request(ctx)
	c.limited = nil
	var e *TokenError
	if errors.As(err, &e) && e.StatusCode == http.StatusTooManyRequests && e.RetryAfter > 0 {
		c.limited, c.limitedUntil = e, time.Now().Add(e.RetryAfter)
	}
	return tok, err
}

// revoke revokes and forgets the cached token, and deletes it from the store.
func (c *tokenCache) revoke(ctx context.Context) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer func() { <-c.sem }()
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if cur == nil {
		return nil
	}
	if err := c.revokeToken(ctx, cur.AccessToken); err != nil {
		return err
	}
	c.drop(cur)
	if store := c.t.TokenStore; store != nil {
		if unlock, err := store.lock(ctx, c.key); err == nil {
			if tok, ok := store.load(c.key); ok && tok.AccessToken == cur.AccessToken {
				store.remove(c.key)
			}
			unlock()
		}
	}
	return nil
}

// bearer sends requests with the cached token. A 401 that is not a role
// error drops that token, and the request is sent once more with a fresh
// one; a second 401 goes to the caller.
type bearer struct {
	tokens *tokenCache
	next   http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := b.tokens.token(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	res, err := b.next.RoundTrip(withToken(req, tok))
	if err != nil || res.StatusCode != http.StatusUnauthorized {
		return res, err
	}
	code, _ := peek401(res)
	spent := req.Body != nil && req.Body != http.NoBody && req.GetBody == nil
	if IsRoleError(code) || spent {
		return res, nil
	}
	_, _ = io.CopyN(io.Discard, res.Body, 4<<10) // so that the connection is reused
	_ = res.Body.Close()
	b.tokens.drop(tok)
	if tok, err = b.tokens.token(req.Context()); err != nil {
		return nil, err
	}
	again := withToken(req, tok)
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return b.next.RoundTrip(again)
}

// withToken returns a copy of req, as a RoundTripper must not change its
// request, that carries tok.
func withToken(req *http.Request, tok *oauth2.Token) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return r
}
