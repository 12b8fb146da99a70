package authedit

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/icholy/digest"
)

// icholy/digest caches the challenge and counts nc, so a warmed client
// needs one round trip; any 401 makes it take the new challenge and retry
// once (a stale nonce costs one round trip, bad credentials cannot loop).
// Around it: challenges a proxy merged into one value are split, a
// malformed challenge counts as none, and a 401 without a usable one goes
// back whole (icholy/digest would drain its body).
func (c APIKey) authenticate(_ *Transport, next http.RoundTripper) http.RoundTripper {
	dt := &digest.Transport{
		Username:      c.PublicKey,
		Password:      string(c.PrivateKey),
		FindChallenge: findChallenge,
		Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			res, err := next.RoundTrip(req)
			if err == nil && res.StatusCode == http.StatusUnauthorized {
				if _, cerr := findChallenge(res.Header); cerr != nil {
					return nil, noChallenge{res} // past icholy/digest, as an error
				}
			}
			return res, err
		}),
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		res, err := dt.RoundTrip(req)
		var nc noChallenge
		if errors.As(err, &nc) {
			return nc.res, nil
		}
		return res, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

type noChallenge struct{ res *http.Response }

func (noChallenge) Error() string { return "401 without a digest challenge" }

// findChallenge is digest.FindChallenge on the challenges split apart,
// reporting a malformed one as none.
func findChallenge(h http.Header) (*digest.Challenge, error) {
	c, err := digest.FindChallenge(http.Header{"Www-Authenticate": splitChallenges(h.Values("Www-Authenticate"))})
	if err != nil {
		return nil, digest.ErrNoChallenge
	}
	return c, nil
}

var (
	listElement    = regexp.MustCompile(`(?:[^,"]|"(?:[^"\\]|\\.)*")+`)              // between top-level commas
	challengeStart = regexp.MustCompile("^[ \t]*[-!#$%&'*+.^_`|~0-9A-Za-z]+ +[^= ]") // "scheme param", not "param="
)

// splitChallenges separates challenges merged into one header value, such
// as `Digest realm="r", qop="auth", Bearer realm="r"`.
func splitChallenges(values []string) []string {
	var out []string
	for _, v := range values {
		start := 0
		for _, m := range listElement.FindAllStringIndex(v, -1) {
			if m[0] > 0 && challengeStart.MatchString(v[m[0]:m[1]]) {
				out = append(out, strings.TrimSpace(v[start:m[0]-1]))
				start = m[0]
			}
		}
		out = append(out, strings.TrimSpace(v[start:]))
	}
	return out
}
