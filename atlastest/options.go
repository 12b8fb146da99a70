package atlastest

import (
	"fmt"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Org seeds an organization of your own with [WithOrg].
type Org struct {
	ID       string // 24 lowercase hex digits; required
	Keys     []Key
	Accounts []Account // service accounts
}

// Key is an organization API key. A key with PublicKey and PrivateKey can
// authenticate with HTTP Digest; Owner gives it the Organization Owner role.
// A key without them only exists to be deleted.
type Key struct {
	ID         string   // 24 lowercase hex digits; generated when empty
	PublicKey  string   // Digest username
	PrivateKey string   // Digest password
	Owner      bool     // Organization Owner role
	Projects   []string // ids of the org's projects the key is assigned to; created on first mention
}

// Account is a service account: it authenticates with the OAuth2
// client-credentials flow.
type Account struct {
	ClientID     string
	ClientSecret string
	Owner        bool // Organization Owner role
}

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

// Option configures a Server. New and NewServer panic when an option is
// invalid, as httptest.NewServer panics when it cannot listen: a test cannot
// go on with a server it did not ask for.
type Option func(*config)

type config struct {
	orgs     []Org
	seedKeys int
	seed     uint64
	ops      contract.Budget // each organization's bucket
	tokens   contract.Budget // each service account's token requests
	tokenTTL time.Duration
	nonceTTL time.Duration
	algs     []string
	logLimit int // 0: keep every request

	bearerChallenge bool             // WithBearerChallenge
	now             func() time.Time // WithClock
}

func defaultConfig() config {
	return config{
		seed:     1,
		ops:      contract.OperationBudget(),
		tokens:   contract.TokenBudget(),
		tokenTTL: time.Hour,
		nonceTTL: 5 * time.Minute,
		algs:     []string{"MD5"}, // Atlas offers one MD5 challenge (recorded, testdata/atlas/unauthenticated.http)
		now:      time.Now,
	}
}

// WithOrg adds an organization besides the default one.
func WithOrg(o Org) Option { return func(c *config) { c.orgs = append(c.orgs, o) } }

// WithSeedKeys adds n generated keys to the default organization, spread
// over its projects like the default ones. A million keys take about a
// second to seed and 170 bytes each.
func WithSeedKeys(n int) Option {
	return func(c *config) {
		if n < 0 {
			panic(fmt.Sprintf("atlastest: WithSeedKeys(%d): n must be >= 0", n))
		}
		c.seedKeys += n
	}
}

// WithSeed seeds the id generator (default 1): the same seed and options give
// the same ids.
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = seed } }

// WithRateLimit sets every organization's bucket: it holds capacity requests
// and regains refill of them per period (default: the spec's, as Atlas:
// 500, and 250 a minute).
func WithRateLimit(capacity, refill int, per time.Duration) Option {
	return func(c *config) {
		if capacity < 1 || refill < 1 || per <= 0 {
			panic(fmt.Sprintf("atlastest: WithRateLimit(%d, %d, %v): all must be positive", capacity, refill, per))
		}
		c.ops = contract.Budget{Capacity: capacity, Refill: refill, Period: per}
	}
}

// WithTokenTTL sets how long service-account tokens live (default 1 h).
func WithTokenTTL(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			panic(fmt.Sprintf("atlastest: WithTokenTTL(%v): must be positive", d))
		}
		c.tokenTTL = d
	}
}

// WithNonceTTL sets how long a digest nonce is good for (default 5 min);
// afterwards the server answers with a challenge marked stale=true.
func WithNonceTTL(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			panic(fmt.Sprintf("atlastest: WithNonceTTL(%v): must be positive", d))
		}
		c.nonceTTL = d
	}
}

// WithDigestAlgorithms chooses the digest algorithms offered and accepted,
// one challenge each, in the order given: "SHA-256", "MD5" (the default is
// MD5 alone, as Atlas offers it).
func WithDigestAlgorithms(algs ...string) Option {
	return func(c *config) {
		if len(algs) == 0 {
			panic("atlastest: WithDigestAlgorithms needs at least one algorithm")
		}
		c.algs = nil
		for _, a := range algs {
			a = strings.ToUpper(a)
			if hashFor(a) == nil {
				panic(fmt.Sprintf("atlastest: WithDigestAlgorithms: %q is not SHA-256 or MD5", a))
			}
			c.algs = append(c.algs, a)
		}
	}
}

// WithLogLimit keeps only the last n requests in the request log (default:
// all of them, which a test wants; a long-running server such as
// `smoke serve` wants a bound).
func WithLogLimit(n int) Option {
	return func(c *config) {
		if n < 1 {
			panic(fmt.Sprintf("atlastest: WithLogLimit(%d): n must be positive", n))
		}
		c.logLimit = n
	}
}
