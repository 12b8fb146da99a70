package deleteorgapikey

import (
	"bytes"
	"cmp"
	"context"
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

	"github.com/atlascontract/deleteorgapikey/authedit"
)

// RetryPolicy says which failed attempts a Client sends again, and when.
// It retries answers 429, 500, 502, 503 and 504, and lost connections,
// while attempts are left and the context's deadline allows the wait.
// It never retries other answers, nor a refused secret or a context that
// ended.
// Each field that is 0 or less takes its default.
type RetryPolicy struct {
	// MaxAttempts bounds the requests of a call. The default is 4; 1 turns
	// retries off.
	MaxAttempts int
	// MinBackoff is the first wait when the answer says none: attempt n
	// waits a random time between d/2 and d, where d = MinBackoff·2^(n-1).
	// The default is 250 ms. It is also the jitter added to a Retry-After.
	MinBackoff time.Duration
	// MaxBackoff caps d. The default is 5 s.
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After waited for. A longer one
	// ends the call with the answer. The default is 30 s.
	MaxRetryAfter time.Duration
}

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

// sent is what the retry loop did for one call. The Remover keeps it
// across the times it sends a key again.
type sent struct {
	attempts int // requests passed to the Transport
	// mayHaveApplied: an attempt before the last may have taken effect. It
	// was written in full and its answer lost, or it was answered 5xx.
	mayHaveApplied bool
	// pace makes the loop hand back a 429 it would retry, instead of
	// waiting: the Remover pauses every request. handedBack reports it.
	pace, handedBack bool
	header           http.Header // the last answer's; nil if none came
}

// retry sends req until the policy says stop. Every attempt goes through
// the whole http.Client, so it is authenticated afresh.
// (hashicorp/go-retryablehttp would retry our own refusals, wait past the
// deadline, hide the last answer, and not tell what may have applied.)
func (c *Client) retry(req *http.Request, s *sent) (*http.Response, error) {
	ctx := req.Context()
	s.handedBack = false
	for {
		res, written, err := c.attempt(req)
		s.attempts++
		s.header = nil
		if res != nil {
			s.header = res.Header
		}
		if s.attempts >= c.policy.MaxAttempts || ctx.Err() != nil {
			return res, err
		}
		wait, applied, again := c.policy.decide(s.attempts, res, err, written)
		if dl, ok := ctx.Deadline(); !again || ok && time.Until(dl) < wait {
			return res, err
		}
		if s.pace && res != nil && res.StatusCode == http.StatusTooManyRequests {
			s.handedBack = true
			return res, nil
		}
		if res != nil {
			_, _ = io.CopyN(io.Discard, res.Body, 4<<10) // so that the connection is reused
			_ = res.Body.Close()
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		s.mayHaveApplied = s.mayHaveApplied || applied
	}
}

// attempt sends req once and reports whether its latest request was
// written in full. A digest attempt may send two requests, and a bearer
// attempt a token request first: a new connection after an answer starts
// afresh. A copy that net/http sends again after a broken connection keeps
// written, as the first copy may have applied.
func (c *Client) attempt(req *http.Request) (*http.Response, bool, error) {
	var written, answered atomic.Bool
	trace := &httptrace.ClientTrace{
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
	}
	res, err := c.hc.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	return res, written.Load(), classify(err)
}

// decide says whether an attempt is retried, after how long, and whether
// it may have applied: a 5xx, or a connection lost after writing.
func (p RetryPolicy) decide(attempt int, res *http.Response, err error,
	written bool) (wait time.Duration, applied, retry bool) {
	var ra time.Duration
	var te *authedit.TokenError
	switch {
	case err == nil && !retryableStatus(res.StatusCode):
		return 0, false, false
	case err == nil:
		ra = newAPIError(res, peek(res)).RetryAfter
		applied, retry = res.StatusCode >= 500, true
	case errors.As(err, &te): // the operation was not sent
		ra, retry = te.RetryAfter, retryableError(err)
	default:
		applied, retry = written, retryableError(err)
	}
	if ra == 0 {
		return p.backoff(attempt), applied, retry
	}
	return ra + rand.N(p.MinBackoff), applied, retry && ra <= p.MaxRetryAfter
}

// peek reads at most maxBody bytes of res's body and puts them back in
// front of the rest.
func peek(res *http.Response) []byte {
	head, _ := io.ReadAll(io.LimitReader(res.Body, maxBody))
	res.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), res.Body), res.Body}
	return head
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

// retryableError: a failed dial (nothing was sent), a lost connection, a
// timeout, or a token endpoint's 429 or 5xx. Not our own refusal, a
// certificate, an unknown name, a refused secret or the caller's context.
func retryableError(err error) bool {
	var te *authedit.TokenError
	var dns *net.DNSError
	var oe *net.OpError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &te):
		return retryableStatus(te.StatusCode) || te.StatusCode == 0 && retryableError(te.Err)
	case errors.As(err, &dns):
		return dns.IsTimeout || dns.IsTemporary
	case errors.As(err, &oe) && oe.Op == "dial":
		return true
	}
	lost := []error{syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED,
		io.EOF, io.ErrUnexpectedEOF}
	for _, e := range lost {
		if errors.Is(err, e) {
			return true
		}
	}
	return errors.As(err, &ne) && ne.Timeout()
}

// retryAfter reads Retry-After in seconds, as Atlas sends it, or as an
// HTTP date; 0 when absent or malformed.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs > 0 {
		return time.Duration(min(secs, math.MaxInt64/int64(time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// sleep waits d, or until ctx ends: then it returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
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
