package authedit

import (
	"context"
	"time"

	"golang.org/x/oauth2"
)

// Seams for the package's external tests.

type RetryInfo = retryInfo

// DefaultRetryPolicy is what a zero RetryPolicy's fields become.
var DefaultRetryPolicy = RetryPolicy{}.withDefaults()

var (
	WithRetryInfo = withRetryInfo
	UserAgent     = userAgent
	StoreKey      = storeKey
)

// WithClock replaces what the retry waits and the token cache take for
// time; a nil part is left as it is.
func WithClock(now func() time.Time, sleep func(context.Context, time.Duration) error) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
		if sleep != nil {
			c.sleep = sleep
		}
	}
}

// Join applies opts in order.
func Join(opts ...Option) Option {
	return func(c *config) {
		for _, o := range opts {
			o(c)
		}
	}
}

func (s *FileTokenStore) Dir() string { return s.dir }

func (s *FileTokenStore) Lock(ctx context.Context, key string) (func(), error) {
	return s.lock(ctx, key)
}

// Load returns key's access token, "" if there is none.
func (s *FileTokenStore) Load(key string) string {
	if tok, ok := s.load(key); ok {
		return tok.AccessToken
	}
	return ""
}

func (s *FileTokenStore) Save(key, token string, expiry time.Time) error {
	return s.save(key, &oauth2.Token{AccessToken: token, Expiry: expiry})
}
