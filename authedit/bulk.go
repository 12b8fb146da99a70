package authedit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// DefaultConcurrency is how many requests a Remover has in flight at most
// unless told otherwise. Atlas refills an organization's budget at about 4
// requests a second, so 4 in flight keep up with it at round trips of up to
// a second, and empty the initial burst quickly without crowding the server.
const DefaultConcurrency = 4

// ErrNotAttempted marks a RemoveAll result for a key that was never sent
// because the context ended first: the key is untouched. Such an error also
// matches the context's error (context.Canceled or DeadlineExceeded). A key
// whose request was under way when the context ended has the context's
// error without ErrNotAttempted: it may or may not be gone.
var ErrNotAttempted = errors.New("authedit: not attempted")

// Result is what RemoveAll did to one key: Outcome and Err as Remove
// returns them, or Failed and an error matching ErrNotAttempted.
type Result struct {
	KeyID   string
	Outcome Outcome
	Err     error
}

// Remover removes many keys of an organization, pacing its requests so that
// the organization's rate limit does not turn them away. Set Client; the
// other fields have defaults. Use one Remover for all the runs of a
// process: its bucket per organization remembers what earlier runs spent.
// Do not change or copy it after its first use.
//
// How pacing works. Atlas gives each organization a token bucket for the
// programmatic-key endpoints (the spec's x-atlas-rate-limit: 500 requests,
// refilled at 250 a minute). The Remover keeps a bucket of its own with the
// same capacity and refill and takes a token from it before each request.
// It spends when it sends, the server when the request arrives: the
// server's bucket follows the local one a moment later, so while the
// Remover is the only caller no request meets an empty bucket: no 429.
//
// Other callers spend the budget too. Each run sends its first request
// alone, so that its answer tells where the bucket stands before the others
// follow, and every answer's Ratelimit-Remaining and Ratelimit-Limit
// correct the local bucket: when the server has fewer left than the local
// bucket thinks, the server wins, less the requests still on their way.
//
// A 429 still comes when another caller empties the bucket between two
// answers. The Client's RetryPolicy sends that request again after its
// Retry-After; from that repeat on (net/http's httptrace reports it) no
// other request starts until the repeat is answered, because it needs a
// token the local bucket did not count. A 429 the policy hands back
// (retries off or used up) is that key's Result, as from Remove, and holds
// every request of the Remover to that organization back until its
// Retry-After has passed: bound a run with a deadline on its context. The
// Remover itself never sends a key twice.
type Remover struct {
	Client *Client

	// Concurrency bounds the requests in flight; <= 0 means
	// DefaultConcurrency.
	Concurrency int

	// Capacity, Refill and Period describe the organization's budget: a
	// bucket of Capacity requests that regains Refill of them every Period.
	// A field <= 0 takes the spec's value. Set them for a server with other
	// limits, such as atlastest.WithRateLimit(100, 100, time.Second).
	Capacity, Refill int
	Period           time.Duration

	mu     sync.Mutex
	pacers map[string]*pacer // by organization
}

var errNoClient = errors.New("authedit: Remover.Client is nil")

// RemoveAll removes the keys keyIDs of organization orgID and returns one
// Result per distinct id, in the order of first appearance: an id given
// twice is sent once. Every id is tried, whatever happened to the others.
// Ids the spec refuses fail as from Remove, with a *ParamError, and spend
// no budget. When ctx ends, no further request is sent: the ids not yet
// sent fail with ErrNotAttempted, and those under way end as Remove would.
// Concurrent runs of one Remover for the same organization share its bucket.
func (r *Remover) RemoveAll(ctx context.Context, orgID string, keyIDs []string) []Result {
	ids := distinct(keyIDs)
	results := make([]Result, len(ids))
	if len(ids) == 0 {
		return results
	}
	if r.Client == nil {
		for i, id := range ids {
			results[i] = Result{KeyID: id, Outcome: Failed, Err: errNoClient}
		}
		return results
	}
	p := r.pacerFor(orgID)
	// The first request goes alone: its answer tells where the
	// organization's bucket stands before the others follow.
	results[0] = r.removeOne(ctx, p, orgID, ids[0])
	var next atomic.Int64
	next.Store(1)
	var wg sync.WaitGroup
	for range min(r.concurrency(), len(ids)-1) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(ids)); i = next.Add(1) - 1 {
				results[i] = r.removeOne(ctx, p, orgID, ids[i])
			}
		})
	}
	wg.Wait()
	return results
}

func (r *Remover) removeOne(ctx context.Context, p *pacer, orgID, keyID string) Result {
	if err := contract.CheckIDs(orgID, keyID); err != nil {
		return Result{KeyID: keyID, Outcome: Failed, Err: err} // Remove's error; nothing is sent
	}
	if err := p.wait(ctx); err != nil {
		return Result{KeyID: keyID, Outcome: Failed, Err: fmt.Errorf("%w: %w", ErrNotAttempted, err)}
	}
	c := &call{p: p}
	o, h, err := r.Client.remove(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaderField: c.wrote}), orgID, keyID)
	p.observe(h, err, c.end())
	return Result{KeyID: keyID, Outcome: o, Err: err}
}

// call follows the requests of one Remove call through net/http's
// httptrace: the first is the one the pacer gave a token to; any other is
// the retry policy sending it again, after a 429, a 5xx or a lost answer.
type call struct {
	p    *pacer
	mu   sync.Mutex
	sent int
	done bool
}

// wrote counts the requests that carry the operation's credentials, not a
// token request (Basic) nor the first request of a digest challenge (none).
// The first repeat holds the run back until the call ends.
func (c *call) wrote(key string, value []string) {
	if !strings.EqualFold(key, "Authorization") || len(value) != 1 {
		return
	}
	if scheme, _, _ := strings.Cut(value[0], " "); !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "Digest") {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	if c.sent++; c.sent == 2 {
		c.p.hold()
	}
}

// end closes the call and says whether it held the run back.
func (c *call) end() (held bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	return c.sent > 1
}

func (r *Remover) concurrency() int {
	if r.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return r.Concurrency
}

// pacerFor is the Remover's bucket for orgID, made on first use.
func (r *Remover) pacerFor(orgID string) *pacer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pacers[orgID]; p != nil {
		return p
	}
	b := contract.OperationBudget()
	if r.Capacity > 0 {
		b.Capacity = r.Capacity
	}
	if r.Refill > 0 {
		b.Refill = r.Refill
	}
	if r.Period > 0 {
		b.Period = r.Period
	}
	p := &pacer{
		bucket:   rate.NewLimiter(rate.Limit(float64(b.Refill)/b.Period.Seconds()), b.Capacity),
		perToken: b.Period / time.Duration(b.Refill),
	}
	if r.pacers == nil {
		r.pacers = map[string]*pacer{}
	}
	r.pacers[orgID] = p
	return p
}

// pacer is the local picture of one organization's bucket.
type pacer struct {
	bucket   *rate.Limiter
	perToken time.Duration // the time the bucket takes to regain one request

	mu       sync.Mutex
	pending  int           // requests that took a token and are not answered yet
	resume   time.Time     // no request before: a 429's Retry-After
	retrying int           // calls whose request the retry policy sends again
	retried  chan struct{} // closed when retrying is back to 0; nil at 0
}

// gate is what a new request waits for first: a 429's Retry-After to pass
// (pause > 0), or the requests being sent again to be answered (retried
// not nil). The caller holds p.mu.
func (p *pacer) gate() (pause time.Duration, retried <-chan struct{}) {
	return time.Until(p.resume), p.retried
}

// wait takes a token once the gate is open, and counts the request as
// pending. It returns ctx's error if ctx ends first.
func (p *pacer) wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.mu.Lock()
		pause, retried := p.gate()
		p.mu.Unlock()
		if retried != nil {
			select {
			case <-retried:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if pause > 0 {
			if err := sleepCtx(ctx, pause); err != nil {
				return err
			}
			continue
		}
		res := p.bucket.Reserve()
		if err := sleepCtx(ctx, res.Delay()); err != nil {
			res.Cancel()
			return err
		}
		p.mu.Lock()
		pause, retried = p.gate() // closed meanwhile: wait again, the token is spent
		open := pause <= 0 && retried == nil
		if open {
			p.pending++
		}
		p.mu.Unlock()
		if open {
			return nil
		}
	}
}

// hold closes the gate while the retry policy sends a request again: its
// first answer (a 429, a 5xx, or none) went unseen here, and the repeat
// needs a token of the server's bucket that the local one did not count.
// Without the hold the run would spend each token first, and the repeat
// could meet 429s until the policy gives up.
func (p *pacer) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retrying++; p.retrying == 1 {
		p.retried = make(chan struct{})
	}
}

// observe takes in the answer to a pending request: its rate-limit headers
// (h, nil when no answer came), Remove's error, and whether its call held
// the run back.
func (p *pacer) observe(h http.Header, err error, held bool) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending--
	if held {
		if p.retrying--; p.retrying == 0 {
			close(p.retried)
			p.retried = nil
		}
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusTooManyRequests {
		pause := ae.RetryAfter
		if pause <= 0 {
			pause = p.perToken
		}
		if t := now.Add(pause); t.After(p.resume) {
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
	// With nothing else of ours in flight, the count is exact: the local
	// bucket holds no more (it gives up what refilled on the way back).
	// Otherwise the server may have counted some of them, and the local
	// bucket, ahead by what refilled meanwhile and by the header's
	// rounding down, is taken as right unless a token more: then others
	// spend the budget too (or round trips are long, where slowing down is
	// harmless), and the server's count wins, less the requests of ours it
	// may not have seen yet (all other pending ones, to be safe).
	slack := 1.0
	if p.pending == 0 {
		slack = 0
	}
	if tokens := p.bucket.TokensAt(now); tokens > float64(remaining)+slack {
		excess := int(math.Ceil(tokens - float64(remaining-p.pending)))
		p.bucket.ReserveN(now, min(excess, p.bucket.Burst())) // spent, never waited for
	}
}

// sleepCtx waits d, or until ctx ends and returns its error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// distinct is ids without repeats, in the order of first appearance.
func distinct(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
