package authedit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math"
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

// Why the retry loop is written here and not taken from
// github.com/hashicorp/go-retryablehttp (v0.7.8, evaluated for issue 7).
//
// Placed above the authenticating layer, its RoundTripper would keep the
// round-trip budgets: it adds no requests, so N warmed digest deletes stay N
// requests and a cold service account one token request. But the library
// brings little beyond its loop, and several things that have to be undone:
//
//   - Its RoundTripper runs a whole http.Client inside our Transport: a
//     second redirect follower that must be switched off, and *url.Error
//     wrapping that it then unwraps again.
//   - Each decision we need is a hook we would write ourselves anyway.
//     CheckRetry: the default retries every transport error that four
//     message regexps do not match, so a *CleartextError or a 401
//     invalid_client *TokenError would be retried (each time with another
//     token request), as would 501 and 505; it knows nothing of which
//     failures may have been applied. Backoff: DefaultBackoff has no jitter
//     and waits any Retry-After uncapped, even past the context deadline,
//     only to end with the context error and without the 429;
//     LinearJitterBackoff is linear and seeds a new rand.Source per call.
//     ErrorHandler: by default the last response is drained and replaced by
//     a "giving up" error, so the caller loses the 429/5xx and its ApiError.
//     Logger: NewClient logs every request to stderr.
//   - The wait is a hard-wired time.NewTimer, so tests cannot skip backoff.
//   - The 404-after-a-lost-response outcome needs to know which attempts may
//     have been applied; its hooks only see that through state smuggled in
//     the request context.
//   - It adds github.com/hashicorp/go-cleanhttp to the build and go-hclog
//     (with fatih/color, mattn/go-colorable, mattn/go-isatty) to the
//     module graph.
//
// What remains once all of that is replaced is the loop in retrier.RoundTrip.

// RetryPolicy says which failed attempts are repeated and how long to wait
// between them. Zero fields take the defaults of DefaultRetryPolicy.
//
// Retried: 429, 500, 502, 503 and 504 answers, and connection errors (refused
// or reset connections, a connection closed before the answer, network
// timeouts). Never retried: any other status (400, 401, 403, 404...),
// errors this package makes itself (*CleartextError, a *TokenError that is
// not a 429/5xx or connection error), TLS certificate errors, and the end of
// the request's context. Only requests with an idempotent method (DELETE,
// GET, HEAD, OPTIONS, TRACE, PUT, or any with an Idempotency-Key header)
// whose body can be replayed (none, or GetBody set) are retried.
//
// Waits: attempt n+1 waits a random duration in [d/2, d], with d =
// MinBackoff·2^(n-1) capped at MaxBackoff. An answer with Retry-After
// (integer seconds, or an HTTP date) is waited for exactly that long plus a
// random part of up to MinBackoff, never less; a Retry-After longer than
// MaxRetryAfter is not waited for: the answer is returned at once. No wait
// outlives the request's context: when the next wait would end after its
// deadline, the last answer (or error) is returned at once rather than
// slept on in vain, and a context ended during a wait ends the call with
// the context's error. NewClient's timeout (DefaultTimeout, WithTimeout),
// a deadline on the call's context, is such a deadline: it bounds all
// attempts together.
//
// Every attempt passes the authenticating layer again: digest answers use
// the next nc, a service account's current token is read afresh.
type RetryPolicy struct {
	MaxAttempts   int           // attempts in all, the first included; 1 turns retries off
	MinBackoff    time.Duration // base of the exponential backoff, and the jitter added to Retry-After
	MaxBackoff    time.Duration // cap of the exponential backoff
	MaxRetryAfter time.Duration // longest Retry-After waited for

	// Sleep waits d or until ctx ends, returning ctx.Err() then; nil uses a
	// timer. Tests can set it to skip or record the waits.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetryPolicy is the policy NewClient and NewTransport use unless
// told otherwise: 4 attempts, backoff from 250 ms to 5 s, Retry-After up to
// 30 s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:   4,
		MinBackoff:    250 * time.Millisecond,
		MaxBackoff:    5 * time.Second,
		MaxRetryAfter: 30 * time.Second,
	}
}

// WithRetry sets the retry policy (default: DefaultRetryPolicy).
func WithRetry(p RetryPolicy) Option { return func(c *config) { c.retry = p } }

// WithoutRetry turns retries off: every request is sent once, as with
// WithRetry(RetryPolicy{MaxAttempts: 1}). RetryInfo is still filled in.
func WithoutRetry() Option { return WithRetry(RetryPolicy{MaxAttempts: 1}) }

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = d.MinBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = d.MaxBackoff
	}
	p.MaxBackoff = max(p.MaxBackoff, p.MinBackoff)
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = d.MaxRetryAfter
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

// backoff is the jittered wait before attempt n+1 after attempt n failed.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.MinBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		if d > p.MaxBackoff/2 {
			d = p.MaxBackoff
		} else {
			d *= 2
		}
	}
	d = min(d, p.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RetryInfo reports what the retry layer did for one call. Hand one to
// WithRetryInfo per call; it is not safe to share between concurrent calls.
type RetryInfo struct {
	// Attempts is how many times the request was sent through the
	// authenticating layer: 1 when nothing was retried, 0 when the request
	// never reached the retry layer (refused ids, another origin).
	Attempts int

	// Waited is the time spent waiting between attempts.
	Waited time.Duration

	// EarlierMayHaveApplied reports that an attempt before the last one may
	// have taken effect at the server: the request was written out in full
	// and its answer was lost (connection reset or closed, timeout), or the
	// answer was a 5xx. An attempt that failed before its request was
	// written (refused dial, failed or timed-out TLS handshake) does not
	// count. "Written" is what net/http reports through
	// httptrace.ClientTrace.WroteRequest; a base transport that does not
	// report it (not an *http.Transport) makes lost answers count as not
	// applied. For a delete, a 404 on the last attempt then most likely
	// means that the key was removed by this call after all; Client.Remove
	// reports it as AlreadyRemoved.
	EarlierMayHaveApplied bool
}

type retryInfoKey struct{}

// WithRetryInfo returns a context that makes the retry layer record into
// info what it did for the request made with that context, like
// httptrace.WithClientTrace. info is reset when the request reaches the
// retry layer.
func WithRetryInfo(ctx context.Context, info *RetryInfo) context.Context {
	return context.WithValue(ctx, retryInfoKey{}, info)
}

// retrier repeats failed attempts through next, the authenticating layer.
type retrier struct {
	next   http.RoundTripper
	policy RetryPolicy // withDefaults applied
}

func (r *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	info, _ := ctx.Value(retryInfoKey{}).(*RetryInfo)
	if info == nil {
		info = &RetryInfo{}
	} else {
		*info = RetryInfo{}
	}
	limit := r.policy.MaxAttempts
	hasBody := req.Body != nil && req.Body != http.NoBody
	if !idempotent(req) || hasBody && req.GetBody == nil {
		limit = 1
	}
	mayHaveApplied := false
	// written tracks the attempt's latest request to the server (a digest
	// attempt may send two, a bearer attempt may fetch a token first): set
	// once a request has been written in full, cleared when the next
	// request asks for a connection after the previous one was answered.
	// A request net/http re-sends by itself on a fresh connection (no
	// answer came) keeps the flag: its first copy may have been applied.
	// It is only read for attempts that return an error, after net/http has
	// waited for its writer, and only exists when attempts may repeat.
	var written, answered atomic.Bool // answered: the latest written request got a response byte
	var actx context.Context
	if limit > 1 {
		actx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
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
	}
	for attempt := 1; ; attempt++ {
		resp, err := r.attempt(req, attempt, actx, hasBody, &written)
		info.Attempts, info.EarlierMayHaveApplied = attempt, mayHaveApplied
		if attempt >= limit || ctx.Err() != nil {
			return resp, err
		}
		wait, applied, ok := r.decide(attempt, resp, err, written.Load())
		if !ok {
			return resp, err
		}
		if dl, has := ctx.Deadline(); has && time.Until(dl) < wait {
			return resp, err // the wait would outlast the context: answer now
		}
		if resp != nil {
			discard(resp)
		}
		if err := r.policy.Sleep(ctx, wait); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil { // a Sleep that ignored ctx
			return nil, err
		}
		info.Waited += wait
		mayHaveApplied = mayHaveApplied || applied
	}
}

// attempt sends one attempt through r.next on a copy of req with the
// attempt's context (carrying the written trace when the attempt may be
// retried, actx) and, for a retried request with a body, a fresh body.
func (r *retrier) attempt(req *http.Request, attempt int, actx context.Context, hasBody bool, written *atomic.Bool) (*http.Response, error) {
	if actx == nil { // sent once: no trace, no copy
		return r.next.RoundTrip(req)
	}
	written.Store(false)
	areq := req.WithContext(actx)
	if attempt > 1 && hasBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		areq.Body = body
	}
	return r.next.RoundTrip(areq)
}

// decide says whether attempt, ended with resp or err, is retried,
// after how long, and whether it may have taken effect at the server:
// after an error, when its request was written in full (written) and the
// error is the connection's, not one this package made before sending.
func (r *retrier) decide(attempt int, resp *http.Response, err error, written bool) (wait time.Duration, applied, retry bool) {
	if err != nil {
		return r.policy.backoff(attempt), written && !refusedHere(err), retryableError(err)
	}
	if !retryableStatus(resp.StatusCode) {
		return 0, false, false
	}
	applied = resp.StatusCode >= 500
	if ra, ok := parseRetryAfter(resp.Header); ok {
		if ra > r.policy.MaxRetryAfter {
			return 0, applied, false // not waited for: the caller decides
		}
		return ra + rand.N(r.policy.MinBackoff), applied, true
	}
	return r.policy.backoff(attempt), applied, true
}

// retryableStatus: rate limited, or a server or gateway failure that may
// pass. 501 (never implemented) and 505 are not.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// parseRetryAfter reads Retry-After: integer seconds (what Atlas sends) or
// an HTTP date. ok is false when it is absent or malformed.
func parseRetryAfter(h http.Header) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(math.MaxInt64/time.Second) {
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(0, time.Until(t)), true
}

// idempotent reports whether a request may be sent twice: the methods RFC
// 9110 (9.2.2) calls idempotent, or a request with an Idempotency-Key or
// X-Idempotency-Key header. This is wider than net/http's own rule for
// its transparent retries (Request.isReplayable), which leaves out PUT
// and DELETE; this package retries DELETE, its operation, on purpose.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, k1 := req.Header["Idempotency-Key"]
	_, k2 := req.Header["X-Idempotency-Key"]
	return k1 || k2
}

// refusedHere reports errors this package makes before the operation is
// sent: a token request that failed (its own request may have been
// written, which says nothing of the operation) or a cleartext refusal.
func refusedHere(err error) bool {
	var te *TokenError
	var ce *CleartextError
	return errors.As(err, &te) || errors.As(err, &ce)
}

// retryableError reports whether an attempt's error is a failure of the
// connection that may pass. Whether the request may have been applied is
// not decided here but by whether it was written (decide).
func retryableError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ce *CleartextError
	if errors.As(err, &ce) {
		return false
	}
	var te *TokenError
	if errors.As(err, &te) {
		if te.StatusCode != 0 {
			return retryableStatus(te.StatusCode)
		}
		return te.Err != nil && retryableError(te.Err)
	}
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
		rhe tls.RecordHeaderError
	)
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &he) || errors.As(err, &cie) || errors.As(err, &rhe) {
		return false
	}
	var dnse *net.DNSError
	if errors.As(err, &dnse) {
		return dnse.IsTimeout || dnse.IsTemporary
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op != "remote error" // a TLS alert from the peer is not retried
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
