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

// TokenError is a failed token or revocation request, secrets redacted.
type TokenError struct {
	Op          string        // "token" or "revoke"
	StatusCode  int           // 0 when no answer came
	ErrorCode   string        // RFC 6749 "error", such as "invalid_client", or Atlas's errorCode, such as "RATE_LIMITED"
	Description string        // RFC 6749 "error_description", or Atlas's detail
	RetryAfter  time.Duration // a 429's Retry-After, during which no token request is made
	Err         error         // the transport's error when no answer came
}

func (e *TokenError) Error() string {
	s := "authedit: " + e.Op + " request failed"
	if e.StatusCode != 0 {
		s += fmt.Sprintf(": HTTP %d", e.StatusCode)
	}
	if s = describe(s, e.ErrorCode, e.Description, e.RetryAfter); e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *TokenError) Unwrap() error { return e.Err }

func (e *TokenError) Is(target error) bool {
	return target == ErrUnauthorized && e.ErrorCode == "invalid_client" || statusIs(target, e.StatusCode)
}

// tokenError reads a refusal from the token or revocation endpoint: an
// RFC 6749 error, or an Atlas ApiError (its 429).
func tokenError(op string, resp *http.Response, body []byte, secret string) *TokenError {
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
	te := &TokenError{Op: op, StatusCode: resp.StatusCode, ErrorCode: redact(b.ErrorCode, secret), Description: redact(b.Detail, secret)}
	te.RetryAfter, _ = parseRetryAfter(resp.Header)
	return te
}

// secretLike is a run that may be a secret or its encoding: Atlas client
// secrets (mdb_sa_sk_...), private keys (UUIDs), a Basic header in base64.
var secretLike = regexp.MustCompile(`[A-Za-z0-9_.~+/=-]{20,}`)

// redact hides, in text a token endpoint sent, the secret (plain and URL-escaped;
// under 8 characters it is likelier a word such as "wrong") and every
// secretLike run of letters and digits, ids of that shape included.
func redact(s, secret string) string {
	if len(secret) >= 8 {
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

// authenticate sets up t's token cache and returns the Bearer layer.
func (c ServiceAccount) authenticate(t *Transport, next http.RoundTripper) http.RoundTripper {
	// Token and revocation requests pass the guard and follow no redirect:
	// a 3xx is an error, never the credentials posted elsewhere.
	hc := &http.Client{Transport: next, Timeout: t.cfg.timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	secret := string(c.ClientSecret)
	cc := &clientcredentials.Config{ClientID: c.ClientID, ClientSecret: secret, TokenURL: t.base + contract.TokenPath(), AuthStyle: oauth2.AuthStyleInHeader}
	t.tokens = &tokenCache{sem: make(chan struct{}, 1), now: t.cfg.now, store: t.cfg.store, key: storeKey(cc.TokenURL, c.ClientID)}
	t.tokens.request = func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
		if re := (*oauth2.RetrieveError)(nil); errors.As(err, &re) && re.Response != nil {
			return nil, tokenError("token", re.Response, re.Body, secret)
		} else if err != nil {
			return nil, &TokenError{Op: "token", Err: err}
		}
		return tok, nil
	}
	t.tokens.revokeToken = func(ctx context.Context, token string) error {
		// RFC 7009, the client credentials form-encoded in HTTP Basic as for
		// the token request (RFC 6749 2.3.1).
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+contract.RevokePath(), strings.NewReader(url.Values{"token": {token}}.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(secret))
			var resp *http.Response
			if resp, err = hc.Do(req); err == nil {
				defer resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					return nil
				}
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				return tokenError("revoke", resp, body, secret)
			}
		}
		return &TokenError{Op: "revoke", Err: err}
	}
	return &bearer{tokens: t.tokens, next: next}
}

// tokenCache hands out one token until shortly before it expires, unlike
// oauth2.ReuseTokenSource dropping a rejected one and heeding the waiters'
// contexts. One fetch at a time; its failure is shared with those who
// waited (64 calls, one wrong secret: one token request), unless its ctx.
type tokenCache struct {
	request     func(context.Context) (*oauth2.Token, error) // one token request
	revokeToken func(context.Context, string) error
	now         func() time.Time
	store       *FileTokenStore // nil: none
	key         string          // the account's entry in store

	sem  chan struct{}                // held while fetching or revoking
	cur  atomic.Pointer[oauth2.Token] // a copy whose Expiry is when to replace it
	last atomic.Pointer[error]        // the latest completed fetch's error; a new pointer per fetch

	// Under sem:
	handed       string      // the access token last handed to cur
	limited      *TokenError // the token endpoint's last 429...
	limitedUntil time.Time   // ...and the end of its Retry-After
}

// maxRefreshMargin is how long before expiry a token is replaced; a short
// lived one is replaced after 90% of its lifetime instead.
const maxRefreshMargin = time.Minute

func (c *tokenCache) fresh() *oauth2.Token {
	if ct := c.cur.Load(); ct != nil && (ct.Expiry.IsZero() || c.now().Before(ct.Expiry)) { // zero: kept until rejected
		return ct
	}
	return nil
}

func (c *tokenCache) lock(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// token returns the cached token, fetching one if none is fresh.
func (c *tokenCache) token(ctx context.Context) (*oauth2.Token, error) {
	if t := c.fresh(); t != nil {
		return t, nil
	}
	seen := c.last.Load()
	if err := c.lock(ctx); err != nil {
		return nil, err
	}
	defer func() { <-c.sem }()
	if t := c.fresh(); t != nil { // fetched while we waited
		return t, nil
	}
	if r := c.last.Load(); r != seen && *r != nil { // failed while we waited
		return nil, *r
	}
	fetchedAt := c.now()
	t, err := c.fetch(ctx)
	if err != nil {
		// A dial can fail on the deadline a moment before ctx reports it.
		if dl, ok := ctx.Deadline(); ctx.Err() == nil && (!ok || time.Now().Before(dl)) {
			c.last.Store(&err)
		}
		return nil, err
	}
	ct := *t
	if !t.Expiry.IsZero() {
		ct.Expiry = t.Expiry.Add(-min(maxRefreshMargin, t.Expiry.Sub(fetchedAt)/10))
	}
	c.handed = t.AccessToken
	c.cur.Store(&ct)
	c.last.Store(new(error))
	return &ct, nil
}

// fetch takes the stored token or mints and stores one, under the store's
// lock so that processes mint one; a broken store counts as none.
func (c *tokenCache) fetch(ctx context.Context) (*oauth2.Token, error) {
	if c.store == nil {
		return c.mint(ctx)
	}
	unlock, err := c.store.lock(ctx, c.key)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return c.mint(ctx)
	}
	defer unlock()
	// A token handed out before is asked for again only when the API
	// rejected it or it expires: either way it is no use to anyone.
	if tok, ok := c.store.load(c.key); ok {
		if tok.AccessToken != c.handed && c.now().Before(tok.Expiry.Add(-maxRefreshMargin)) {
			return tok, nil
		}
		c.store.remove(c.key)
	}
	tok, err := c.mint(ctx)
	if err == nil && !tok.Expiry.IsZero() { // a token of unknown lifetime is not shared
		_ = c.store.save(c.key, tok)
	}
	return tok, err
}

// mint makes one token request, unless the last 429's Retry-After runs:
// then that 429 with the time left, for the retry layer to wait.
func (c *tokenCache) mint(ctx context.Context) (*oauth2.Token, error) {
	if left := c.limitedUntil.Sub(c.now()); c.limited != nil && left > 0 {
		te := *c.limited
		te.RetryAfter = left
		return nil, &te
	}
	tok, err := c.request(ctx)
	c.limited = nil
	if te := (*TokenError)(nil); errors.As(err, &te) && te.StatusCode == http.StatusTooManyRequests && te.RetryAfter > 0 {
		c.limited, c.limitedUntil = te, c.now().Add(te.RetryAfter)
	}
	return tok, err
}

// revoke revokes and forgets the cached token, and deletes it from the store.
func (c *tokenCache) revoke(ctx context.Context) error {
	if err := c.lock(ctx); err != nil {
		return err
	}
	defer func() { <-c.sem }()
	ct := c.cur.Load()
	if ct == nil {
		return nil
	}
	if err := c.revokeToken(ctx, ct.AccessToken); err != nil {
		return err
	}
	c.cur.CompareAndSwap(ct, nil)
	if c.store != nil {
		if unlock, err := c.store.lock(ctx, c.key); err == nil {
			if tok, ok := c.store.load(c.key); ok && tok.AccessToken == ct.AccessToken {
				c.store.remove(c.key)
			}
			unlock()
		}
	}
	return nil
}

// bearer adds the cached token. A 401 drops that token (unless replaced
// already, so that simultaneous 401s cause one refetch) and the request
// is sent once more with a fresh one; a second 401 goes to the caller.
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
	resp, err := b.next.RoundTrip(withAuth(req, ct))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // the body is spent and cannot be sent again
	}
	discard(resp)
	b.tokens.cur.CompareAndSwap(ct, nil)
	fresh, err := b.tokens.token(ctx)
	if err != nil {
		return nil, err
	}
	r := withAuth(req, fresh)
	if req.GetBody != nil {
		if r.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return b.next.RoundTrip(r)
}

// withAuth is a copy of req (a RoundTripper keeps its request) carrying tok.
func withAuth(req *http.Request, tok *oauth2.Token) *http.Request {
	r := req.Clone(req.Context())
	tok.SetAuthHeader(r)
	return r
}

// discard drains a little of an answer (so its connection is reused), closes it.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
}
