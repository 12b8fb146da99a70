package authedit

import (
	"io"
	"net/http"
	"strings"

	"github.com/icholy/digest"
)

// icholy/digest caches the challenge per host and counts nc, so a warmed
// client needs one round trip per request; any 401 makes it take the new
// challenge and retry once (a stale nonce costs one round trip, bad
// credentials cannot loop, and requests that reach the server out of nc
// order recover). Around it, this file splits challenges a proxy merged
// into one header value, takes a malformed challenge for none (the 401 is
// the answer, not a broken connection), and keeps the body of a 401
// without a usable challenge, which icholy/digest would drain and close.

// authenticate returns the digest layer.
func (c APIKey) authenticate(_ *Transport, next http.RoundTripper) http.RoundTripper {
	return &digestAuth{dt: &digest.Transport{
		Username:      c.PublicKey,
		Password:      string(c.PrivateKey),
		Transport:     holdBody{next},
		FindChallenge: findChallenge,
	}}
}

type digestAuth struct{ dt *digest.Transport }

func (d *digestAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := d.dt.RoundTrip(req)
	if res != nil {
		if hb, ok := res.Body.(heldBody); ok {
			res.Body = hb.rc
		}
	}
	return res, err
}

// holdBody sits under icholy/digest and hides the body of a 401 without a
// usable challenge from it.
type holdBody struct{ next http.RoundTripper }

func (h holdBody) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := h.next.RoundTrip(req)
	if err == nil && res.StatusCode == http.StatusUnauthorized {
		if _, cerr := findChallenge(res.Header); cerr != nil {
			res.Body = heldBody{res.Body}
		}
	}
	return res, err
}

// heldBody reads as empty and closes nothing, so that digest.Transport's
// drain and close leave the body under it to the caller.
type heldBody struct{ rc io.ReadCloser }

func (heldBody) Read([]byte) (int, error) { return 0, io.EOF }
func (heldBody) Close() error             { return nil }

// findChallenge is digest.FindChallenge on the challenges split apart,
// reporting a malformed one as no challenge at all.
func findChallenge(h http.Header) (*digest.Challenge, error) {
	c, err := digest.FindChallenge(http.Header{"Www-Authenticate": splitChallenges(h.Values("Www-Authenticate"))})
	if err != nil {
		return nil, digest.ErrNoChallenge
	}
	return c, nil
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
