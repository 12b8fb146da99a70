package authedit

import (
	"cmp"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// RetryPolicy retries idempotent requests answered 429, 500, 502, 503 or 504,
// or whose connection was lost, while the deadline allows the wait.
type RetryPolicy struct {
	MaxAttempts   int           // ≤ 0: 4; 1 turns retries off
	MinBackoff    time.Duration // ≤ 0: 250 ms; with no Retry-After, attempt n waits d/2..d, d = MinBackoff·2^(n-1)
	MaxBackoff    time.Duration // ≤ 0: 5 s; d's cap
	MaxRetryAfter time.Duration // ≤ 0: 30 s; a longer Retry-After is not waited for: the answer is returned
}

// WithRetry sets the retry policy.
func WithRetry(p RetryPolicy) Option { return func(c *config) { c.retry = p } }

// WithoutRetry sends every request once.
func WithoutRetry() Option { return WithRetry(RetryPolicy{MaxAttempts: 1}) }

func (p RetryPolicy) withDefaults() RetryPolicy {
	p.MaxAttempts = cmp.Or(max(p.MaxAttempts, 0), 4)
	p.MinBackoff = cmp.Or(max(p.MinBackoff, 0), 250*time.Millisecond)
	p.MaxBackoff = max(cmp.Or(max(p.MaxBackoff, 0), 5*time.Second), p.MinBackoff)
	p.MaxRetryAfter = cmp.Or(max(p.MaxRetryAfter, 0), 30*time.Second)
	return p
}

// backoff is the jittered wait after attempt n failed.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.MinBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d = min(2*d, p.MaxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// retryInfo is what the retry layer did for one call (Remove reads it).
// A call given a used one goes on counting from it.
type retryInfo struct {
	Attempts int // requests passed to the authenticating layer
	// EarlierMayHaveApplied: an attempt before the last may have taken
	// effect: it was written in full and its answer lost, or it was a 5xx.
	EarlierMayHaveApplied bool
	// handBack429 (set by the Remover, which paces every request) returns a
	// 429 the policy would retry instead of waiting; handedBack reports it.
	handBack429, handedBack bool
	header                  http.Header // the last answer's; nil if none came
}

type retryInfoKey struct{}

func withRetryInfo(ctx context.Context, info *retryInfo) context.Context {
	return context.WithValue(ctx, retryInfoKey{}, info)
}

// retrier repeats failed attempts through next, the authenticating layer.
// (hashicorp/go-retryablehttp retries our own refusals, waits past the
// deadline, hides the last answer, and cannot tell what may have applied.)
type retrier struct {
	next   http.RoundTripper
	policy RetryPolicy
	sleep  func(context.Context, time.Duration) error
}

func (r *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	info, _ := ctx.Value(retryInfoKey{}).(*retryInfo)
	if info == nil {
		info = &retryInfo{}
	}
	info.handedBack = false
	limit := r.policy.MaxAttempts
	hasBody := req.Body != nil && req.Body != http.NoBody
	if !idempotent(req) || hasBody && req.GetBody == nil {
		limit = 1
	}
	// written: the attempt's latest request (a digest attempt may send two,
	// a bearer attempt fetch a token first) was written in full. A new
	// connection after an answer starts afresh; a copy net/http re-sends
	// after a broken connection keeps it, as the first may have applied.
	var written, answered atomic.Bool
	actx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn: func(string) {
			if answered.Swap(false) {
				written.Store(false)
			}
		},
		GotFirstResponseByte: func() { answered.Store(true) },
		WroteRequest: func(w httptrace.WroteRequestInfo) {
			if w.Err == nil {
				written.Store(true)
			}
		},
	})
	first := info.Attempts + 1
	mayHaveApplied := info.EarlierMayHaveApplied // a handed-back 429 was not applied
	for attempt := first; ; attempt++ {
		written.Store(false)
		areq := req.WithContext(actx)
		if attempt > first && hasBody {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			areq.Body = body
		}
		resp, err := r.next.RoundTrip(areq)
		info.Attempts, info.EarlierMayHaveApplied, info.header = attempt, mayHaveApplied, nil
		if resp != nil {
			info.header = resp.Header
		}
		if attempt >= limit || ctx.Err() != nil {
			return resp, err
		}
		wait, applied, ok := r.decide(attempt, resp, err, written.Load())
		if dl, has := ctx.Deadline(); !ok || has && time.Until(dl) < wait {
			return resp, err // not retried, or the wait would outlast the call
		}
		if info.handBack429 && resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			info.handedBack = true
			return resp, nil
		}
		if resp != nil {
			discard(resp)
		}
		if err := r.sleep(ctx, wait); err != nil {
			return nil, err
		}
		mayHaveApplied = mayHaveApplied || applied
	}
}

// decide says whether an attempt is retried, after how long, and whether it
// may have applied: an answered 5xx, or a connection lost after writing.
func (r *retrier) decide(attempt int, resp *http.Response, err error, written bool) (wait time.Duration, applied, retry bool) {
	var ra time.Duration
	var hasRA bool
	var te *TokenError
	var ce *CleartextError
	switch {
	case err == nil && !retryableStatus(resp.StatusCode):
		return 0, false, false
	case err == nil:
		ra, hasRA = parseRetryAfter(resp.Header)
		applied, retry = resp.StatusCode >= 500, true
	case errors.As(err, &te): // the operation was not sent
		ra, hasRA, retry = te.RetryAfter, te.RetryAfter > 0, retryableError(err)
	default:
		applied, retry = written && !errors.As(err, &ce), retryableError(err)
	}
	if !hasRA {
		return r.policy.backoff(attempt), applied, retry
	}
	return ra + rand.N(r.policy.MinBackoff), applied, retry && ra <= r.policy.MaxRetryAfter
}

// retryableStatus: rate limited, or a server or gateway failure that may pass.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// parseRetryAfter reads seconds (as Atlas sends) or an HTTP date; ok if well-formed.
func parseRetryAfter(h http.Header) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		return time.Duration(min(secs, int64(1<<63-1)/int64(time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t)), true
	}
	return 0, false
}

// idempotent: the methods RFC 9110 calls idempotent, or a request with an
// (X-)Idempotency-Key header. (net/http's own re-send rule leaves out DELETE.)
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header["Idempotency-Key"] != nil || req.Header["X-Idempotency-Key"] != nil
}

// retryableError: a failed dial (nothing sent), a lost connection, a timeout;
// not our refusal, a certificate, an unknown name, or the caller's context.
func retryableError(err error) bool {
	var te *TokenError
	var ce *CleartextError
	var dns *net.DNSError
	var oe *net.OpError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ce):
		return false
	case errors.As(err, &te):
		return retryableStatus(te.StatusCode) || te.StatusCode == 0 && retryableError(te.Err)
	case errors.As(err, &dns):
		return dns.IsTimeout || dns.IsTemporary
	case errors.As(err, &oe) && oe.Op == "dial":
		return true
	}
	for _, e := range []error{syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	return errors.As(err, &ne) && ne.Timeout()
}
