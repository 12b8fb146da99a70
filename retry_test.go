package deleteorgapikey

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

var account = authedit.ServiceAccount{ClientID: "id", ClientSecret: "client-secret"}

// 429, 500, 502, 503 and 504 are sent again after a backoff, the other
// statuses not. An answered 5xx may have been applied.
func TestRetriedStatuses(t *testing.T) {
	for _, status := range []int{400, 403, 404, 409, 429, 500, 501, 502, 503, 504} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := bubbleClient(t, &canned{answers: []answer{{status: status}, {status: status},
					{status: http.StatusNoContent}}}, account)
				s := &sent{}
				start := time.Now()
				res, err := c.send(t.Context(), orgID, keyID, nil, nil, s)
				if err != nil {
					t.Fatal(err)
				}
				_ = res.Body.Close()
				took := time.Since(start)
				want := sent{attempts: 1}
				if retryableStatus(status) {
					want = sent{attempts: 3, mayHaveApplied: status >= 500}
				}
				if s.attempts != want.attempts || s.mayHaveApplied != want.mayHaveApplied {
					t.Errorf("%d attempts, may have applied %v; want %+v",
						s.attempts, s.mayHaveApplied, want)
				}
				// Two backoffs: 125-250 ms, then 250-500 ms.
				short, long := 375*time.Millisecond, 750*time.Millisecond
				if want.attempts == 3 && (took < short || took > long) {
					t.Errorf("the retries took %v, want two backoffs (375 to 750 ms)", took)
				}
			})
		})
	}
}

// A Retry-After, or else the wait a token bucket's 429 names, is waited
// for, plus at most MinBackoff. Past MaxRetryAfter or the deadline, the 429
// comes back at once, and APIError.RetryAfter says when to try again.
// atlastest sends Retry-After in seconds; edit changes it on the way.
func TestRetryAfterIsWaitedFor(t *testing.T) {
	none := func(h http.Header) { h.Del("Retry-After") }
	date := func(h http.Header) { h.Set("Retry-After", "Sat, 01 Jan 2000 00:00:03 GMT") }
	tests := []struct {
		name     string
		after    time.Duration // atlastest's Retry-After, which the token bucket names too
		edit     func(http.Header)
		deadline time.Duration // 0: none
		wait     time.Duration // -1: the 429 comes back at once
	}{
		{"seconds", time.Second, nil, 0, time.Second},
		{"date", time.Second, date, 0, 3 * time.Second},
		{"token bucket", 7 * time.Second, none, 0, 7 * time.Second},
		{"over MaxRetryAfter", 31 * time.Second, nil, 0, -1},
		{"token bucket over MaxRetryAfter", 40 * time.Second, none, 0, -1},
		{"past the deadline", time.Second, nil, 900 * time.Millisecond, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { // its clock starts at 2000-01-01 00:00 UTC
				srv := atlastest.New()
				srv.SetRetryAfter(tc.after)
				srv.FailNext(1, http.StatusTooManyRequests)
				pipe := inBubble(t, srv.Handler())
				tr := roundTripFunc(func(req *http.Request) (*http.Response, error) {
					res, err := pipe.RoundTrip(req)
					if err == nil && tc.edit != nil {
						tc.edit(res.Header)
					}
					return res, err
				})
				c := newClient(t, bubbleURL, srv.Owner().ServiceAccount(), WithTransport(tr))
				ctx := t.Context()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				start := time.Now()
				out, err := c.Remove(ctx, srv.OrgID(), srv.Keys()[0])
				took := time.Since(start)
				var e *APIError
				if tc.wait < 0 {
					if !errors.As(err, &e) || e.RetryAfter != tc.after || took != 0 {
						t.Errorf("Remove: %v after %v, want the 429 at once, RetryAfter %v",
							err, took, tc.after)
					}
					return
				}
				if out != Removed || took < tc.wait || took >= tc.wait+250*time.Millisecond {
					t.Errorf("Remove: %v, %v after %v; want removed after %v",
						out, err, took, tc.wait)
				}
			})
		})
	}
}

// A context that ends during a wait ends the call then.
func TestRetryWaitEndsWithTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := atlastest.New()
		srv.FailNext(1, http.StatusInternalServerError)
		c := bubbleClient(t, srv.Handler(), srv.Owner().ServiceAccount(), WithTimeout(0),
			WithRetry(RetryPolicy{MinBackoff: time.Hour}))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.Remove(ctx, srv.OrgID(), srv.Keys()[0])
		took := time.Since(start)
		if !errors.Is(err, context.Canceled) || took != 100*time.Millisecond {
			t.Errorf("Remove: %v after %v, want canceled after 100ms", err, took)
		}
	})
}

// Whether an attempt may have applied depends on whether its request was
// written: a delete whose answer was lost most likely removed the key, a
// dial that failed sent nothing.
func TestLostAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := atlastest.New()
		c := bubbleClient(t, srv.Handler(), srv.Owner().APIKey())
		srv.DropNext(1) // deletes the key, then closes the connection unanswered
		out, err := c.Remove(t.Context(), srv.OrgID(), srv.Keys()[0])
		if out != AlreadyRemoved || err != nil {
			t.Errorf("after a lost answer: %v, %v; want already removed", out, err)
		}

		dialed, pipe := 0, inBubble(t, srv.Handler())
		flaky := WithTransport(roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if dialed++; dialed == 1 {
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}
			}
			return pipe.RoundTrip(req)
		}))
		c = newClient(t, bubbleURL, srv.Owner().ServiceAccount(), flaky)
		out, err = c.Remove(t.Context(), srv.OrgID(), absentKey)
		if out != NotFound || err != nil || dialed != 3 { // the dial, the token, the delete
			t.Errorf("after a failed dial: %v, %v after %d requests; want not found after 3",
				out, err, dialed)
		}
	})
}

// Every attempt goes through authentication: a digest client's retries
// carry credentials for the next nc.
func TestEveryAttemptIsAuthenticated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := atlastest.New()
		c := bubbleClient(t, srv.Handler(), srv.Owner().APIKey())
		srv.FailNext(2, http.StatusInternalServerError)
		if out, err := c.Remove(t.Context(), srv.OrgID(), srv.Keys()[0]); err != nil {
			t.Fatalf("Remove = %v, %v", out, err)
		}
		var got []string
		for _, r := range srv.Requests() {
			got = append(got, fmt.Sprint(r.Auth, " ", r.Status))
		}
		if fmt.Sprint(got) != "[none 401 digest 500 digest 500 digest 204]" {
			t.Errorf("the server saw %v", got)
		}
	})
}

// A zero RetryPolicy takes the defaults its doc states, and the backoff of
// attempt n lies between d/2 and d, d = MinBackoff·2^(n-1) capped at MaxBackoff.
func TestRetryPolicyDefaults(t *testing.T) {
	p := RetryPolicy{}.withDefaults()
	want := RetryPolicy{4, 250 * time.Millisecond, 5 * time.Second, 30 * time.Second}
	if p != want {
		t.Errorf("defaults %+v, want %+v", p, want)
	}
	d := p.MinBackoff
	for n := 1; n < 8; n++ {
		if got := p.backoff(n); got < d/2 || got > d {
			t.Errorf("backoff(%d) = %v, want %v to %v", n, got, d/2, d)
		}
		d = min(2*d, p.MaxBackoff)
	}
}
