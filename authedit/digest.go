package authedit

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/icholy/digest"
)

// What icholy/digest (v1.2.0) does, and where this file helps:
//
//   - It caches the last challenge per host and counts nc under a mutex, so
//     a warmed client answers with one round trip per request.
//   - Any 401 (stale=true or not) makes it parse the new challenge, cache it
//     and retry exactly once: stale nonces cost one extra round trip, and
//     bad credentials cannot loop.
//   - nc is taken under its lock but requests are sent outside it, so
//     concurrent requests can reach the server out of nc order. A server
//     that rejects that answers 401 with a new challenge, and the one retry
//     above recovers.
//   - Its cache is keyed by host name without port or scheme; Transport
//     only authenticates its own origin, so one digest.Transport never sees
//     two servers.
//   - It parses each WWW-Authenticate value as one challenge. Proxies may
//     merge several challenges into one comma-joined value (RFC 9110 allows
//     it; Node-based proxies do it), so keepBody splits them apart first.
//   - On a 401 that carries no usable digest challenge it returns the
//     response after draining and closing its body, so the caller cannot
//     read the ApiError. keepBody buffers such a body and restores it.

// authenticate returns the digest layer.
func (c APIKey) authenticate(_ *Transport, next http.RoundTripper) http.RoundTripper {
	return &digestAuth{dt: &digest.Transport{
		Username:  c.PublicKey,
		Password:  string(c.PrivateKey),
		Transport: keepBody{next},
	}}
}

type digestAuth struct{ dt *digest.Transport }

// keptBody is the buffered body of an unchallenged 401, as keepBody hands
// it to digest.Transport, which drains and closes it; digestAuth
// recognises it on the response it returns and restores it to the start.
// The response carries it from keepBody to digestAuth, so nothing has to
// be added to the request.
type keptBody struct {
	*bytes.Reader
	data []byte
}

func (keptBody) Close() error { return nil }

// maxKeptBody bounds what is buffered of an unchallenged 401 body.
const maxKeptBody = 1 << 20

func (d *digestAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := d.dt.RoundTrip(req)
	if res != nil {
		if kb, ok := res.Body.(keptBody); ok {
			res.Body = io.NopCloser(bytes.NewReader(kb.data))
		}
	}
	return res, err
}

// keepBody sits under icholy/digest and buffers the body of a 401 without
// a digest challenge, which digest.Transport would otherwise discard.
type keepBody struct{ next http.RoundTripper }

func (kb keepBody) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := kb.next.RoundTrip(req)
	if err != nil || res.StatusCode != http.StatusUnauthorized {
		return res, err
	}
	if vs := res.Header.Values("WWW-Authenticate"); len(vs) > 0 {
		res.Header["Www-Authenticate"] = splitChallenges(vs)
	}
	if _, cerr := digest.FindChallenge(res.Header); cerr == nil {
		return res, nil // digest.Transport answers the challenge itself
	}
	body, rerr := io.ReadAll(io.LimitReader(res.Body, maxKeptBody))
	_ = res.Body.Close()
	if rerr != nil {
		return nil, rerr
	}
	res.Body = keptBody{Reader: bytes.NewReader(body), data: body}
	return res, nil
}

// splitChallenges separates challenges that were merged into one header
// value, such as `Digest realm="r", qop="auth", Bearer realm="r"`. A new
// challenge starts after a top-level comma where a token is followed by a
// space rather than by "=" (an auth-param).
func splitChallenges(values []string) []string {
	var out []string
	for _, v := range values {
		start, quoted := 0, false
		for i := 0; i < len(v); i++ {
			switch c := v[i]; {
			case c == '\\' && quoted:
				i++
			case c == '"':
				quoted = !quoted
			case c == ',' && !quoted && startsChallenge(v[i+1:]):
				out = append(out, strings.TrimSpace(v[start:i]))
				start = i + 1
			}
		}
		out = append(out, strings.TrimSpace(v[start:]))
	}
	return out
}

// startsChallenge reports whether s (after a comma) begins "scheme param".
func startsChallenge(s string) bool {
	s = strings.TrimLeft(s, " \t")
	n := 0
	for n < len(s) && isTokenChar(s[n]) {
		n++
	}
	if n == 0 || n == len(s) || s[n] != ' ' {
		return false
	}
	rest := strings.TrimLeft(s[n:], " ")
	return rest != "" && rest[0] != '='
}

func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
