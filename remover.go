package deleteorgapikey

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
)

// The operation's budget per organization, as the spec's x-atlas-rate-limit
// states it. The capacity is recorded; the refill rate was found in no
// Atlas answer nor document, so the Remover's fields can change it.
const (
	defaultCapacity = 500
	defaultRefill   = 250
	defaultPeriod   = time.Minute
)

// Result is what RemoveAll did to one key: what Remove returns, or an
// error matching ErrNotAttempted.
type Result struct {
	KeyID   string
	Outcome Outcome
	Err     error
}

// Remover removes many keys of an organization at the pace of its budget.
// It keeps one bucket per organization, which it corrects by the
// RateLimit-Limit and RateLimit-Remaining headers of the answers; as the
// only caller it meets no 429.
// A Remover is safe for concurrent use, and its fields must not change
// after its first RemoveAll.
type Remover struct {
	Client      *Client // required
	Concurrency int     // requests in flight at most; 0 or less: 4
	// Capacity, Refill and Period are the budget: Capacity requests, and
	// Refill more every Period. Each that is 0 or less takes Atlas's:
	// 500, and 250 a minute.
	Capacity, Refill int
	Period           time.Duration

	buckets sync.Map // organization id -> *bucket
}

// RemoveAll removes every distinct key of keyIDs from the organization,
// and returns one Result per distinct id, in the order of first appearance.
//
// A 429 pauses every request of the call for its Retry-After, and its key
// is sent again while the Client's RetryPolicy allows. A Retry-After over
// the policy's MaxRetryAfter ends the call.
// So does an answer that holds for every key: ErrUnauthorized,
// ErrForbidden or ErrOrgNotFound.
// The keys not sent then, or when ctx ended, get an error that matches
// both ErrNotAttempted and the reason.
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
			results[i] = Result{id, Failed, errors.New("deleteorgapikey: Remover.Client is nil")}
		}
		return results
	}
	u := &run{client: r.Client, orgID: orgID, b: r.bucketFor(orgID)}
	// The first request goes alone: its answer tells where the bucket
	// stands, and whether any request can succeed.
	results[0] = u.removeOne(ctx, ids[0])
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(cmp.Or(max(r.Concurrency, 0), 4), len(ids)-1) {
		wg.Go(func() {
			for i := next.Add(1); i < int64(len(ids)); i = next.Add(1) {
				results[i] = u.removeOne(ctx, ids[i])
			}
		})
	}
	wg.Wait()
	return results
}

// bucketFor returns the Remover's bucket for orgID, made on first use.
func (r *Remover) bucketFor(orgID string) *bucket {
	capacity := cmp.Or(max(r.Capacity, 0), defaultCapacity)
	refill := cmp.Or(max(r.Refill, 0), defaultRefill)
	period := cmp.Or(max(r.Period, 0), defaultPeriod)
	b, _ := r.buckets.LoadOrStore(orgID, &bucket{
		limiter:  rate.NewLimiter(rate.Limit(float64(refill)/period.Seconds()), capacity),
		capacity: capacity,
		perToken: period / time.Duration(refill),
	})
	return b.(*bucket)
}

// run is one RemoveAll call. Its pause and its reason to stop end with it.
type run struct {
	client *Client
	orgID  string
	b      *bucket

	mu     sync.Mutex
	resume time.Time // no request before it: a 429's Retry-After
	stop   error     // an answer that holds for every key
}

// removeOne removes one key. A 429 that the retry loop hands back was not
// applied: the key is sent again once the pause is over.
func (u *run) removeOne(ctx context.Context, keyID string) Result {
	if err := checkIDs(u.orgID, keyID); err != nil {
		return Result{keyID, Failed, err}
	}
	s := sent{pace: true}
	res := Result{KeyID: keyID, Outcome: Failed}
	for {
		if err := u.wait(ctx); err != nil {
			if s.attempts == 0 {
				res.Err = fmt.Errorf("%w: %w", ErrNotAttempted, err)
			}
			return res // else the 429 it was answered
		}
		res.Outcome, res.Err = u.client.remove(ctx, u.orgID, keyID, &s)
		u.observe(res.Err)
		u.b.observe(s.header)
		if !s.handedBack {
			return res
		}
	}
}

// wait returns once a request may go, having taken a token from the bucket
// and counted the request as pending. It returns ctx's error, or the
// reason the run stopped, instead.
func (u *run) wait(ctx context.Context) error {
	for {
		u.mu.Lock()
		pause, stop := time.Until(u.resume), u.stop
		u.mu.Unlock()
		if stop != nil {
			return stop
		}
		if err := sleep(ctx, pause); err != nil {
			return err
		}
		res := u.b.limiter.Reserve()
		if err := sleep(ctx, res.Delay()); err != nil {
			res.Cancel()
			return err
		}
		u.mu.Lock()
		open := u.stop == nil && !time.Now().Before(u.resume) // else the token is spent
		u.mu.Unlock()
		if open {
			u.b.mu.Lock()
			u.b.pending++
			u.b.mu.Unlock()
			return nil
		}
	}
}

// observe takes in Remove's error: it may pause the run or stop it.
func (u *run) observe(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var e *APIError
	switch {
	case u.stop != nil:
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrForbidden),
		errors.Is(err, ErrOrgNotFound):
		u.stop = err
	case !errors.As(err, &e) || e.StatusCode != http.StatusTooManyRequests:
	case e.RetryAfter > u.client.policy.MaxRetryAfter:
		u.stop = e
	default:
		if t := time.Now().Add(cmp.Or(e.RetryAfter, u.b.perToken)); t.After(u.resume) {
			u.resume = t
		}
	}
}

// bucket is the local picture of one organization's budget.
type bucket struct {
	limiter  *rate.Limiter
	capacity int           // the Remover's; the burst never exceeds it
	perToken time.Duration // the time the bucket takes to regain one request

	mu      sync.Mutex
	pending int // requests that took a token and are not answered yet
}

// observe takes in the headers of the answer to a pending request, nil
// when no answer came.
//
// The burst follows the latest RateLimit-Limit, never above Capacity: one
// answer with a low limit lowers it until an answer says otherwise.
// RateLimit-Remaining corrects the tokens. Alone in flight, the server's
// count is exact. Otherwise the local bucket, ahead by what refilled since
// and by the header's rounding, is trusted unless it holds a token more:
// then others spend the budget too, and the server wins, less the requests
// of ours it may not have counted yet.
func (b *bucket) observe(h http.Header) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending--
	if limit, err := strconv.Atoi(h.Get("Ratelimit-Limit")); err == nil && limit > 0 {
		b.limiter.SetBurstAt(now, min(limit, b.capacity))
	}
	remaining, err := strconv.Atoi(h.Get("Ratelimit-Remaining"))
	if err != nil || remaining < 0 {
		return
	}
	if tokens := b.limiter.TokensAt(now); tokens > float64(remaining)+min(float64(b.pending), 1) {
		excess := int(math.Ceil(tokens - float64(remaining-b.pending)))
		b.limiter.ReserveN(now, min(excess, b.limiter.Burst())) // spent, never waited for
	}
}
