package authedit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Result is what RemoveAll did to a key: as Remove says, or ErrNotAttempted.
type Result struct {
	KeyID   string
	Outcome Outcome
	Err     error
}

// Remover paces removals by the organization's budget and Ratelimit-*
// headers; a 429 pauses all for Retry-After, its key re-sent if RetryPolicy allows.
type Remover struct {
	Client           *Client
	Concurrency      int           // requests in flight at most; <= 0: 4
	Capacity, Refill int           // the budget: Capacity requests, regaining Refill
	Period           time.Duration // every Period; each of the three <= 0: the spec's x-atlas-rate-limit value

	pacers sync.Map // organization id -> *pacer
}

// RemoveAll returns one Result per distinct id in order; see ErrNotAttempted.
func (r *Remover) RemoveAll(ctx context.Context, orgID string, keyIDs []string) []Result {
	var ids []string
	seen := map[string]bool{}
	for _, id := range keyIDs {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	results := make([]Result, len(ids))
	if len(ids) == 0 {
		return results
	}
	if r.Client == nil {
		for i, id := range ids {
			results[i] = Result{id, Failed, errors.New("authedit: Remover.Client is nil")}
		}
		return results
	}
	p := r.pacerFor(orgID)
	// The first request goes alone: its answer tells where the bucket stands.
	results[0] = r.removeOne(ctx, p, orgID, ids[0])
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(cmp.Or(max(r.Concurrency, 0), 4), len(ids)-1) {
		wg.Go(func() {
			for i := next.Add(1); i < int64(len(ids)); i = next.Add(1) {
				results[i] = r.removeOne(ctx, p, orgID, ids[i])
			}
		})
	}
	wg.Wait()
	return results
}

// removeOne removes one key. A 429 the retry layer hands back (see
// retryInfo) was not applied: the key is sent again once the pause is over.
func (r *Remover) removeOne(ctx context.Context, p *pacer, orgID, keyID string) Result {
	if err := contract.CheckIDs(orgID, keyID); err != nil {
		return Result{keyID, Failed, err}
	}
	info := retryInfo{handBack429: true}
	res := Result{KeyID: keyID, Outcome: Failed}
	for {
		if err := p.wait(ctx); err != nil {
			if info.Attempts == 0 {
				res.Err = fmt.Errorf("%w: %w", ErrNotAttempted, err)
			}
			return res // else the 429 it was answered
		}
		res.Outcome, res.Err = r.Client.remove(ctx, &info, orgID, keyID)
		p.observe(info.header, res.Err)
		if !info.handedBack {
			return res
		}
	}
}

// pacerFor is the Remover's bucket for orgID, made on first use.
func (r *Remover) pacerFor(orgID string) *pacer {
	b := contract.OperationBudget()
	b.Capacity, b.Refill, b.Period = cmp.Or(max(r.Capacity, 0), b.Capacity), cmp.Or(max(r.Refill, 0), b.Refill), cmp.Or(max(r.Period, 0), b.Period)
	p, _ := r.pacers.LoadOrStore(orgID, &pacer{
		bucket:   rate.NewLimiter(rate.Limit(float64(b.Refill)/b.Period.Seconds()), b.Capacity),
		perToken: b.Period / time.Duration(b.Refill),
	})
	return p.(*pacer)
}

// pacer is the local picture of one organization's bucket.
type pacer struct {
	bucket   *rate.Limiter
	perToken time.Duration // the time the bucket takes to regain one request

	mu      sync.Mutex
	pending int       // requests that took a token and are not answered yet
	resume  time.Time // no request before: a 429's Retry-After
}

// wait takes a token once any pause is over and counts the request as
// pending, or returns ctx's error.
func (p *pacer) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		pause := time.Until(p.resume)
		p.mu.Unlock()
		_ = sleep(ctx, pause) // cut short when ctx ends
		if err := ctx.Err(); err != nil {
			return err
		}
		res := p.bucket.Reserve()
		if sleep(ctx, res.Delay()) != nil {
			res.Cancel()
			return ctx.Err()
		}
		p.mu.Lock()
		open := !time.Now().Before(p.resume) // else a 429 came meanwhile: the token is spent
		if open {
			p.pending++
		}
		p.mu.Unlock()
		if open {
			return nil
		}
	}
}

// observe takes in the answer to a pending request: its headers (nil when
// no answer came) and Remove's error.
func (p *pacer) observe(h http.Header, err error) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending--
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusTooManyRequests {
		if t := now.Add(cmp.Or(ae.RetryAfter, p.perToken)); t.After(p.resume) {
			p.resume = t
		}
	}
	if limit, err := strconv.Atoi(h.Get(behavior.RateLimitLimit)); err == nil && limit > 0 && limit < p.bucket.Burst() {
		p.bucket.SetBurstAt(now, limit)
	}
	remaining, err := strconv.Atoi(h.Get(behavior.RateLimitRemaining))
	if err != nil || remaining < 0 {
		return
	}
	// Alone in flight, the server's count is exact. Otherwise the local
	// bucket (ahead by what refilled since, and by the header's rounding)
	// is trusted unless a token more: then others spend the budget too,
	// and the server wins, less our requests it may not have counted yet.
	if tokens := p.bucket.TokensAt(now); tokens > float64(remaining)+min(float64(p.pending), 1) {
		excess := int(math.Ceil(tokens - float64(remaining-p.pending)))
		p.bucket.ReserveN(now, min(excess, p.bucket.Burst())) // spent, never waited for
	}
}
