package authedit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Transport is an http.RoundTripper that authenticates the requests it
// sends to the origin of its base URL: by HTTP Digest for an APIKey, and
// by a Bearer token for a ServiceAccount.
// It wraps Base, as x/oauth2's Transport does.
// Requests to any other origin go through Base as they are, without
// credentials.
//
// Make a Transport with NewTransport; the zero value refuses every request.
// Set its fields before its first request, and do not change them afterwards.
// Most programs use the root package's NewClient instead, which builds a
// Transport and adds id checks, retries and typed errors.
type Transport struct {
	// Base sends the requests, token requests included.
	// If nil, http.DefaultTransport is used.
	Base http.RoundTripper

	// TokenStore shares a service account's tokens with other processes.
	// If nil, every Transport mints its own tokens. An APIKey ignores it.
	TokenStore *FileTokenStore

	// AllowInsecureHTTP lets requests go in cleartext (http) to hosts that
	// are not loopback. If false, such a request fails with a
	// *CleartextError, and nothing is sent.
	AllowInsecureHTTP bool

	origin string            // scheme://host:port of the base URL, lower case
	auth   http.RoundTripper // the credentials' layer, which sends through guard
	tokens *tokenCache       // a service account's tokens; nil for an API key
}

// NewTransport returns a Transport that authenticates with creds the
// requests it sends to the origin of baseURL.
// The base URL is https://host[:port][/path], or http:// for loopback (see
// AllowInsecureHTTP), without user info, query or fragment.
// Credentials with an empty field are a *CredentialsError.
func NewTransport(baseURL string, creds Credentials) (*Transport, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("authedit: base URL: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("authedit: base URL %q: want https://host[:port][/path], "+
			"without user info (pass Credentials), query or fragment", u.Redacted())
	}
	if err := validateCredentials(creds); err != nil {
		return nil, err
	}
	t := &Transport{origin: originOf(u)}
	t.auth = creds.authenticate(t, strings.TrimSuffix(u.String(), "/"))
	return t, nil
}

// RoundTrip sends req through Base, authenticated if it goes to the base
// URL's origin.
// A 401 that refuses the credentials is answered once: with a fresh token,
// or with Digest credentials for the new challenge.
// A 401 with a role error (see IsRoleError) is returned as it is.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case t.auth == nil:
		closeBody(req)
		return nil, errors.New("authedit: the Transport was not made by NewTransport")
	case originOf(req.URL) != t.origin:
		return t.guard(req)
	}
	return t.auth.RoundTrip(req)
}

// Revoke revokes the service-account token the Transport holds, deletes it
// from the TokenStore, and forgets it: the next request mints another.
// It returns nil at once for an APIKey, or when no token is held.
// The revocation request uses ctx and follows no redirect.
func (t *Transport) Revoke(ctx context.Context) error {
	if t.tokens == nil {
		return nil
	}
	return t.tokens.revoke(ctx)
}

// CloseIdleConnections closes the idle connections of Base, if it keeps any.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *Transport) base() http.RoundTripper {
	if t.Base == nil {
		return http.DefaultTransport
	}
	return t.Base
}

// guard sends req through Base, unless it would go in cleartext to a host
// that is not loopback. Every request passes it, token requests included.
func (t *Transport) guard(req *http.Request) (*http.Response, error) {
	if err := checkCleartext(req.URL, t.AllowInsecureHTTP); err != nil {
		closeBody(req)
		return nil, err
	}
	return t.base().RoundTrip(req)
}

// originOf is scheme://host:port, lower case, with the default port explicit.
func originOf(u *url.URL) string {
	scheme, port := strings.ToLower(u.Scheme), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// CleartextError reports a request refused because it would have gone in
// cleartext (http) to a host that is not loopback. Nothing was sent.
type CleartextError struct {
	Host string // host[:port] of the refused URL
}

// Error names the host and how to proceed.
func (e *CleartextError) Error() string {
	return fmt.Sprintf("authedit: refusing cleartext http to %q, which is not loopback "+
		"(use https, or allow it with AllowInsecureHTTP)", e.Host)
}

// checkCleartext refuses http to any host but "localhost" and loopback
// addresses. It resolves no name: DNS is no evidence that traffic stays on
// this machine.
func checkCleartext(u *url.URL, allowed bool) error {
	if allowed || !strings.EqualFold(u.Scheme, "http") ||
		strings.EqualFold(u.Hostname(), "localhost") {
		return nil
	}
	host, _, _ := strings.Cut(u.Hostname(), "%") // an IPv6 zone
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return &CleartextError{Host: u.Host}
}

// IsRoleError reports whether errorCode is one of Atlas's role errors.
// Atlas sends them with status 401 when it accepted the credentials but
// their principal lacks a role, such as Organization Owner.
// Such a 401 is no reason to fetch a new token or answer a new challenge.
func IsRoleError(errorCode string) bool {
	switch errorCode {
	case "USER_UNAUTHORIZED", "NOT_ORG_OWNER", "NOT_API_KEY_ADMIN",
		"USER_CANNOT_ACCESS_ORG", "NOT_ORG_GROUP_CREATOR":
		return true
	}
	return false
}

// max401 bounds what is read of a 401's body before deciding how to
// answer it. Atlas's are a few hundred bytes.
const max401 = 64 << 10

// peek401 reads at most max401 bytes of res's body and puts them back in
// front of the rest. It returns the body's errorCode, if it has one, and
// whether the whole body was read.
func peek401(res *http.Response) (errorCode string, whole bool) {
	head, err := io.ReadAll(io.LimitReader(res.Body, max401+1))
	res.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), res.Body), res.Body}
	var b struct {
		ErrorCode string `json:"errorCode"`
	}
	_ = json.Unmarshal(head, &b)
	return b.ErrorCode, err == nil && len(head) <= max401
}

// closeBody closes the body of a request that is not sent, as a
// RoundTripper must.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
