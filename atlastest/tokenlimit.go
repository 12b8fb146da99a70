package atlastest

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// The token endpoint is limited per client as Atlas limits it (reported:
// 50 requests a minute per IP address and client). Only requests whose
// client authenticated are charged, to that client's bucket, so nobody can
// spend another client's budget with a wrong secret; the per-IP limit is
// left out, as every caller of a test server shares the loopback address.
// The revoke endpoint is not limited.

// WithTokenRateLimit lets each service-account client have n token
// requests per period (default from the spec: 50 a minute, as Atlas). The
// bucket refills evenly: after a burst of n, one more every per/n. per
// must be whole minutes, as Atlas's 429 counts in minutes.
func WithTokenRateLimit(n int, per time.Duration) Option {
	return func(c *config) {
		if n < 1 || per < time.Minute || per%time.Minute != 0 {
			panic(fmt.Sprintf("atlastest: WithTokenRateLimit(%d, %v): n must be positive and per whole minutes", n, per))
		}
		c.tokens = contract.Budget{Capacity: n, Refill: n, Period: per}
	}
}

// chargeToken spends one token request of sa's bucket. It sets the
// rate-limit headers on w, and when the bucket is empty answers Atlas's 429
// (internal/behavior.TokenRateLimited) and returns false.
func (s *Server) chargeToken(w *exchange, sa *serviceAccount) bool {
	now := s.cfg.now()
	a := &s.auth
	a.mu.Lock()
	lim := a.tokenLimits[sa]
	if lim == nil { // one per account at most: the accounts are fixed
		lim = newLimiter(s.cfg.tokens)
		a.tokenLimits[sa] = lim
	}
	a.mu.Unlock()
	h, ok := limits(s.cfg.tokens, lim, now, true)
	for k, vs := range h {
		w.Header()[k] = vs
	}
	if !ok {
		s.write(w, s.answer(behavior.TokenRateLimited, h, contract.TokenPath(), s.cfg.tokens.Capacity, int(s.cfg.tokens.Period/time.Minute)))
	}
	return ok
}

// newLimiter is a bucket holding b, full.
func newLimiter(b contract.Budget) *rate.Limiter {
	return rate.NewLimiter(rate.Every(b.Period/time.Duration(b.Refill)), b.Capacity)
}
