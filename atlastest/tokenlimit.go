package atlastest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// The token endpoint is limited per client as Atlas limits it (reported:
// 50 requests a minute per IP address and client). Only requests whose
// client authenticated are charged, to that client's bucket, so nobody can
// spend another client's budget with a wrong secret; the per-IP limit is
// left out, as every caller of a test server shares the loopback address.
// The revoke endpoint is not limited.

// specTokenLimit reads the default from the spec: the ServiceAccounts
// client-credentials flow's x-atlas-rate-limit, whose capacity and refill
// must be equal (Atlas words the limit as "N requests every M minutes")
// and whose period must be whole minutes. The spec is compiled in, so a
// spec that breaks this is a broken build: New panics.
var specTokenLimit = sync.OnceValues(func() (int, time.Duration) {
	doc, err := gen.GetSpec()
	if err != nil {
		panic(fmt.Sprintf("atlastest: embedded spec: %v", err))
	}
	raw := doc.Components.SecuritySchemes["ServiceAccounts"].Value.Flows.ClientCredentials.Extensions["x-atlas-rate-limit"]
	b, _ := json.Marshal(raw)
	var l struct{ Capacity, Refill, PeriodSeconds int }
	if err := json.Unmarshal(b, &l); err != nil || l.Capacity < 1 || l.Refill != l.Capacity || l.PeriodSeconds < 60 || l.PeriodSeconds%60 != 0 {
		panic(fmt.Sprintf("atlastest: spec's token flow x-atlas-rate-limit %s: want equal capacity and refill and whole minutes (%v)", b, err))
	}
	return l.Capacity, time.Duration(l.PeriodSeconds) * time.Second
})

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
