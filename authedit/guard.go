package authedit

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// CleartextError reports a request that would go over plain http to a host
// that is not loopback. Nothing was sent: the refusal happens before any
// dial. Use https, or opt in with WithInsecureHTTP.
type CleartextError struct {
	Host string // host[:port] of the refused URL
}

func (e *CleartextError) Error() string {
	return fmt.Sprintf("authedit: refusing cleartext http to non-loopback host %q (use https, or opt in with WithInsecureHTTP)", e.Host)
}

// isLoopback reports whether host (a URL's Hostname) is a loopback address
// literal (127.0.0.0/8, ::1) or the name "localhost" (any case). The check
// resolves nothing itself, and other names are never trusted, whatever
// they resolve to: a DNS answer is not evidence that the traffic stays on
// this machine. "localhost" is the one exception, trusted by name: the
// dial resolves it like any other name, normally through /etc/hosts, which
// maps it to loopback; a hosts file or resolver that says otherwise is
// not caught.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // IPv6 zone
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkCleartext returns a *CleartextError for u unless it is https, http
// to loopback, or insecure is set.
func checkCleartext(u *url.URL, insecure bool) error {
	if insecure || !strings.EqualFold(u.Scheme, "http") || isLoopback(u.Hostname()) {
		return nil
	}
	return &CleartextError{Host: u.Host}
}

// guard refuses cleartext requests to non-loopback hosts before they reach
// the base transport. It sits directly above the base transport, so every
// request this package makes passes it: API calls, redirects the
// http.Client follows, digest retries, token and revocation requests.
//
// It checks the request's URL only. A proxy the base transport sends
// through is not checked: a custom base transport (WithTransport,
// WithHTTPClient) whose Proxy names a remote http proxy carries even a
// request to loopback across the network in cleartext. (The default,
// http.DefaultTransport, takes its proxy from the environment and never
// proxies localhost or loopback addresses.)
type guard struct {
	next     http.RoundTripper
	insecure bool
}

func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkCleartext(req.URL, g.insecure); err != nil {
		closeBody(req)
		return nil, err
	}
	return g.next.RoundTrip(req)
}

// closeBody honours the RoundTripper contract (the body is closed, even on
// errors) for requests refused before sending.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
