package atlastest

import (
	"fmt"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Principal is the default organization's owner or member: an API key for
// Digest and a service account for Bearer tokens.
type Principal struct {
	KeyID        string // the API key's id, deletable like any other key
	PublicKey    string
	PrivateKey   string
	ClientID     string
	ClientSecret string
}

// APIKey is the principal's API key as authedit takes it (HTTP Digest).
func (p Principal) APIKey() authedit.APIKey {
	return authedit.APIKey{PublicKey: p.PublicKey, PrivateKey: authedit.Secret(p.PrivateKey)}
}

// ServiceAccount is the principal's service account as authedit takes it
// (OAuth2 client credentials).
func (p Principal) ServiceAccount() authedit.ServiceAccount {
	return authedit.ServiceAccount{ClientID: p.ClientID, ClientSecret: authedit.Secret(p.ClientSecret)}
}

// Option configures a Server.
type Option func(*config)

type config struct {
	orgs            int             // organizations; more than one only in this package's tests
	seedKeys        int             // WithSeedKeys
	ops             contract.Budget // each organization's bucket
	tokens          contract.Budget // each service account's token requests
	nonceTTL        time.Duration
	algs            []string
	logLimit        int // 0: keep every request
	bearerChallenge bool
	now             func() time.Time
}

// tokenTTL is how long a service-account token lives, as on Atlas.
const tokenTTL = time.Hour

// check panics with an atlastest: message unless ok: set-up a test did not
// mean cannot go on.
func check(ok bool, format string, args ...any) {
	if !ok {
		panic(fmt.Sprintf("atlastest: "+format, args...))
	}
}

// WithSeedKeys adds n keys to the default organization, spread over its
// projects like the default ones. A million keys take about a second.
func WithSeedKeys(n int) Option {
	return func(c *config) {
		check(n >= 0, "WithSeedKeys(%d): n must be >= 0", n)
		c.seedKeys += n
	}
}

// WithRateLimit sets every organization's bucket: it holds capacity requests
// and regains refill of them per period (default: the spec's, as Atlas:
// 500, and 250 a minute).
func WithRateLimit(capacity, refill int, per time.Duration) Option {
	return func(c *config) {
		check(capacity > 0 && refill > 0 && per > 0, "WithRateLimit(%d, %d, %v): all must be positive", capacity, refill, per)
		c.ops = contract.Budget{Capacity: capacity, Refill: refill, Period: per}
	}
}

// WithTokenRateLimit lets each service account make n token requests per
// period (default: the spec's, as Atlas: 50 a minute), refilled evenly.
// per must be whole minutes, as Atlas's 429 counts in minutes.
func WithTokenRateLimit(n int, per time.Duration) Option {
	return func(c *config) {
		check(n > 0 && per >= time.Minute && per%time.Minute == 0, "WithTokenRateLimit(%d, %v): n must be positive and per whole minutes", n, per)
		c.tokens = contract.Budget{Capacity: n, Refill: n, Period: per}
	}
}

// WithNonceTTL sets how long a digest nonce is good for (default 5 min);
// after that it gets a challenge with stale=true.
func WithNonceTTL(d time.Duration) Option {
	return func(c *config) {
		check(d > 0, "WithNonceTTL(%v): must be positive", d)
		c.nonceTTL = d
	}
}

// WithDigestAlgorithms chooses the digest algorithms offered and accepted,
// one challenge each, in the order given: "SHA-256", "MD5" (default: MD5
// alone, as Atlas).
func WithDigestAlgorithms(algs ...string) Option {
	return func(c *config) {
		check(len(algs) > 0, "WithDigestAlgorithms needs at least one algorithm")
		c.algs = nil
		for _, a := range algs {
			a = strings.ToUpper(a)
			check(a == "SHA-256" || a == "MD5", "WithDigestAlgorithms: %q is not SHA-256 or MD5", a)
			c.algs = append(c.algs, a)
		}
	}
}

// WithBearerChallenge adds a Bearer challenge (RFC 6750) to every 401. Atlas
// sends none, and authedit needs none: any 401 refuses its token.
func WithBearerChallenge() Option { return func(c *config) { c.bearerChallenge = true } }

// WithClock replaces time.Now for everything that expires or refills:
// nonces, tokens and the rate limits, so a test moves time instead of
// waiting.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		check(now != nil, "WithClock(nil)")
		c.now = now
	}
}

// WithLogLimit keeps only the last n requests in the log (default: all).
func WithLogLimit(n int) Option {
	return func(c *config) {
		check(n > 0, "WithLogLimit(%d): n must be positive", n)
		c.logLimit = n
	}
}
