package atlastest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
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

// specTokenLimit is the default: the budget the spec records for the
// token endpoint (contract.TokenBudget), whose capacity and refill must be
// equal (Atlas words the limit as "N requests every M minutes") and whose
// period must be whole minutes. The spec is compiled in, so a spec that
// breaks this is a broken build: New panics.
func specTokenLimit() (int, time.Duration) {
	b := contract.TokenBudget()
	if b.Refill != b.Capacity || b.Period < time.Minute || b.Period%time.Minute != 0 {
		panic(fmt.Sprintf("atlastest: the spec's token budget %+v: want equal capacity and refill and whole minutes", b))
	}
	return b.Capacity, b.Period
}

// WithTokenRateLimit lets each service-account client have n token
// requests per period (default from the spec: 50 a minute, as Atlas). The
// bucket refills evenly: after a burst of n, one more every per/n. per
// must be whole minutes, as Atlas's 429 counts in minutes.
func WithTokenRateLimit(n int, per time.Duration) Option {
	return func(c *config) {
		if n < 1 || per < time.Minute || per%time.Minute != 0 {
			panic(fmt.Sprintf("atlastest: WithTokenRateLimit(%d, %v): n must be positive and per whole minutes", n, per))
		}
		c.tokenLimit, c.tokenPer = n, per
	}
}

// chargeToken spends one token request of sa's bucket. It sets the
// rate-limit headers on w, and when the bucket is empty answers Atlas's 429
// (internal/behavior.TokenRateLimited) and returns false.
func (s *Server) chargeToken(w http.ResponseWriter, sa *serviceAccount) bool {
	now := s.cfg.now()
	a := &s.auth
	a.mu.Lock()
	lim := a.tokenLimits[sa]
	if lim == nil { // one per account at most: the accounts are fixed
		lim = rate.NewLimiter(rate.Every(s.cfg.tokenPer/time.Duration(s.cfg.tokenLimit)), s.cfg.tokenLimit)
		a.tokenLimits[sa] = lim
	}
	a.mu.Unlock()
	h := w.Header()
	h.Set(behavior.RateLimitLimit, strconv.Itoa(s.cfg.tokenLimit))
	r := lim.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if delay > 0 {
		r.CancelAt(now)
	}
	h.Set(behavior.RateLimitRemaining, strconv.Itoa(max(0, int(lim.TokensAt(now)))))
	if delay <= 0 {
		return true
	}
	minutes := int(s.cfg.tokenPer / time.Minute)
	ans := atlas(behavior.TokenRateLimited, contract.TokenPath(), s.cfg.tokenLimit, minutes)
	body, _ := json.Marshal(ans.body) // strings and ints: cannot fail
	h.Set(behavior.RetryAfter, strconv.Itoa(int(math.Ceil(delay.Seconds()))))
	h.Set(behavior.XErrorCode, ans.row.ErrorCode)
	h.Set(behavior.ContentType, ans.row.ContentType)
	w.WriteHeader(ans.row.Status)
	_, _ = w.Write(body)
	return false
}
