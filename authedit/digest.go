package authedit

import (
	"errors"
	"net/http"

	"github.com/icholy/digest"
)

// authenticate answers Digest challenges with icholy/digest. It caches the
// challenge and counts nc, so a warmed Transport needs one round trip a
// request. A 401 makes it take the new challenge and send the request once
// more: a stale nonce costs one round trip, and a wrong key cannot loop.
//
// Below it, a 401 that icholy/digest must not answer goes back to the
// caller with its body intact: one with a role error, one whose body is
// over max401 bytes, and one without a well-formed Digest challenge.
func (c APIKey) authenticate(t *Transport, _ string) http.RoundTripper {
	dt := &digest.Transport{
		Username: c.PublicKey,
		Password: string(c.PrivateKey),
		Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			res, err := t.guard(req)
			if err != nil || res.StatusCode != http.StatusUnauthorized {
				return res, err
			}
			code, whole := peek401(res)
			_, cerr := digest.FindChallenge(res.Header)
			if cerr != nil || !whole || IsRoleError(code) {
				return nil, handBack{res} // past icholy/digest, which would drain it
			}
			return res, nil
		}),
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		res, err := dt.RoundTrip(req)
		var hb handBack
		if errors.As(err, &hb) {
			return hb.res, nil
		}
		return res, err
	})
}

// handBack carries a 401 past icholy/digest as an error.
type handBack struct{ res *http.Response }

func (handBack) Error() string { return "a 401 not to answer" }
