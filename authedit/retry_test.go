package authedit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

// sleeps is a clock for the client that records each wait instead of
// waiting, and runs that much ahead of the wall clock from then on.
type sleeps struct {
	mu    sync.Mutex
	d     []time.Duration
	ahead time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.ahead += d
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Add(s.ahead)
}

// clock is the option that gives the client this clock.
func (s *sleeps) clock() authedit.Option { return authedit.WithClock(s.now, s.sleep) }

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// fast is a policy with small backoffs whose waits are recorded, not slept.
func fast(attempts int, s *sleeps) authedit.Option {
	return authedit.Join(authedit.WithRetry(authedit.RetryPolicy{MaxAttempts: attempts, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}),
		s.clock())
}

// step is one scripted answer.
type step struct {
	status     int
	retryAfter string
}

// scripted answers its steps in order, then 204s; it ignores
// authentication, so a digest client's first request is answered as is.
type scripted struct {
	*httptest.Server
	steps  []step
	n      atomic.Int32
	mu     sync.Mutex
	bodies []string
}

func newScripted(t *testing.T, steps ...step) *scripted {
	t.Helper()
	s := &scripted{steps: steps}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(s.n.Add(1)) - 1
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		st := step{status: http.StatusNoContent}
		if i < len(s.steps) {
			st = s.steps[i]
		}
		if st.retryAfter != "" {
			w.Header().Set("Retry-After", st.retryAfter)
		}
		if st.status == http.StatusNoContent {
			w.WriteHeader(st.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st.status)
		_, _ = fmt.Fprintf(w, `{"error":%d,"errorCode":"SCRIPTED_%d","detail":"step %d"}`, st.status, st.status, i)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) client(t *testing.T, opts ...authedit.Option) *authedit.Client {
	t.Helper()
	c, err := authedit.NewClient(s.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// del deletes keyID in orgID, recording into a RetryInfo.
func del(t *testing.T, ctx context.Context, c *authedit.Client, org, key string) (int, authedit.RetryInfo) {
	t.Helper()
	var info authedit.RetryInfo
	resp, err := c.DeleteOrgApiKeyWithResponse(authedit.WithRetryInfo(ctx, &info), org, key, nil)
	if err != nil {
		t.Fatalf("delete %s: %v (after %+v)", key, err, info)
	}
	return resp.StatusCode(), info
}

// inBackoff checks waits against the policy of fast: attempt n waits in
// [d/2, d], d = 10ms·2^(n-1) capped at 40ms.
func inBackoff(t *testing.T, waits []time.Duration) {
	t.Helper()
	d := 10 * time.Millisecond
	for i, w := range waits {
		if w < d/2 || w > d {
			t.Errorf("wait %d = %v, want within [%v, %v]", i+1, w, d/2, d)
		}
		d = min(2*d, 40*time.Millisecond)
	}
}

func TestRetryRetriesTransientStatuses(t *testing.T) {
	for _, status := range []int{429, 500, 502, 503, 504} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := newScripted(t, step{status: status}, step{status: status})
			var sl sleeps
			code, info := del(t, t.Context(), s.client(t, fast(5, &sl)), orgID, keyID)
			if code != http.StatusNoContent || s.n.Load() != 3 {
				t.Fatalf("status %d after %d requests, want 204 after 3", code, s.n.Load())
			}
			want := authedit.RetryInfo{Attempts: 3, EarlierMayHaveApplied: status >= 500}
			if info.Attempts != want.Attempts || info.EarlierMayHaveApplied != want.EarlierMayHaveApplied {
				t.Errorf("RetryInfo = %+v, want %+v", info, want)
			}
			waits := sl.waits()
			if len(waits) != 2 {
				t.Fatalf("waits = %v, want 2", waits)
			}
			inBackoff(t, waits)
		})
	}
}

func TestRetryLeavesOtherStatusesAlone(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 501, 505} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := newScripted(t, step{status: status, retryAfter: "1"})
			var sl sleeps
			code, info := del(t, t.Context(), s.client(t, fast(5, &sl)), orgID, keyID)
			if code != status || s.n.Load() != 1 || info.Attempts != 1 || len(sl.waits()) != 0 {
				t.Errorf("status %d after %d requests, %+v, waits %v; want %d after 1 request, no wait", code, s.n.Load(), info, sl.waits(), status)
			}
		})
	}
}

// Against the reference server: 400s, 401 and 403 cost exactly the
// requests they cost without retries.
func TestRetryNotForClientErrors(t *testing.T) {
	srv := atlastest.NewTestServer(t, atlastest.WithSeedKeys(20))
	keys := srv.Keys()
	cases := []struct {
		name   string
		creds  authedit.Credentials
		key    string
		fault  func()
		status int
		want   int // operation requests at the server
	}{
		{"400", srv.Owner().APIKey(), keys[0], func() { srv.FailNext(1, 400) }, 400, 1},
		{"403", srv.Member().APIKey(), keys[0], nil, 403, 1},
		{"absent key", srv.Owner().APIKey(), "ffffffffffffffffffffffff", nil, 400, 1},
		// Both auth layers answer a 401 once themselves (new challenge, new
		// token); the retry layer adds nothing to that.
		{"401 digest", srv.Owner().APIKey(), keys[0], func() { srv.FailNext(100, 401) }, 401, 2},
		{"401 bearer", srv.Owner().ServiceAccount(), keys[0], func() { srv.FailNext(100, 401) }, 401, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, retry := range []authedit.Option{fast(5, new(sleeps)), authedit.WithoutRetry()} {
				c, err := authedit.NewClient(srv.URL, tc.creds, retry)
				if err != nil {
					t.Fatal(err)
				}
				if _, info := del(t, t.Context(), c, srv.OrgID(), keys[1]); info.Attempts != 1 { // warm up (digest challenge, token)
					t.Fatalf("warm-up took %d attempts", info.Attempts)
				}
				srv.ResetRequests()
				if tc.fault != nil {
					tc.fault()
				}
				code, info := del(t, t.Context(), c, srv.OrgID(), tc.key)
				srv.FailNext(0, 400)
				if code != tc.status || info.Attempts != 1 {
					t.Errorf("status %d, %+v; want %d, one attempt", code, info, tc.status)
				}
				if got := srv.CountRequests(isOperation); got != tc.want {
					t.Errorf("operation requests = %d, want %d: %+v", got, tc.want, srv.Requests())
				}
				keys = srv.Keys() // the warm-up deleted keys[1]
			}
		})
	}
}

// A zero RetryPolicy's fields take the defaults RetryPolicy documents.
func TestRetryPolicyDefaults(t *testing.T) {
	if got, want := fmt.Sprintf("%+v", authedit.DefaultRetryPolicy), "{MaxAttempts:4 MinBackoff:250ms MaxBackoff:5s MaxRetryAfter:30s}"; got != want {
		t.Errorf("defaults %s, want %s", got, want)
	}
}

func TestRetryBoundedByMaxAttempts(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	var sl sleeps
	c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), fast(6, &sl))
	if err != nil {
		t.Fatal(err)
	}
	key := srv.Keys()[0]
	srv.FailNext(100, http.StatusInternalServerError)
	code, info := del(t, t.Context(), c, srv.OrgID(), key)
	if code != http.StatusInternalServerError || info.Attempts != 6 || !info.EarlierMayHaveApplied {
		t.Errorf("status %d, %+v; want the 6th 500 handed back", code, info)
	}
	if got := srv.CountRequests(func(r atlastest.Request) bool { return isOperation(r) && r.Status == 500 }); got != 6 {
		t.Errorf("500s at the server = %d, want 6", got)
	}
	waits := sl.waits()
	if len(waits) != 5 {
		t.Fatalf("waits = %v, want 5", waits)
	}
	inBackoff(t, waits) // 10, 20, 40, 40, 40 ms before jitter: capped

	// Remove reports the same as a typed error.
	srv.FailNext(100, http.StatusInternalServerError)
	out, err := c.Remove(t.Context(), srv.OrgID(), key)
	var ae *authedit.APIError
	if out != authedit.Failed || !errors.As(err, &ae) || ae.StatusCode != 500 || ae.Attempts != 6 || ae.ErrorCode != "UNEXPECTED_ERROR" {
		t.Errorf("Remove = %v, %v; want failed, *APIError 500 after 6 attempts", out, err)
	}
	srv.FailNext(0, 500)
	if out, err := c.Remove(t.Context(), srv.OrgID(), key); out != authedit.Removed || err != nil {
		t.Errorf("then Remove = %v, %v; want removed", out, err)
	}
}

// The server's Retry-After: 1 is waited for, on a synctest bubble's clock:
// exactly that second plus the jitter, no more.
func TestRetryAfterIsWaitedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, p := newPipeAtlas(t)
		c, err := authedit.NewClient(p.URL, srv.Owner().APIKey(), authedit.WithTransport(p.tr), authedit.WithRetry(authedit.RetryPolicy{MinBackoff: 20 * time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		srv.FailNext(1, http.StatusTooManyRequests) // Retry-After: 1
		start := time.Now()
		out, err := c.Remove(t.Context(), srv.OrgID(), srv.Keys()[0])
		elapsed := time.Since(start)
		if out != authedit.Removed || err != nil {
			t.Fatalf("Remove = %v, %v; want removed", out, err)
		}
		if elapsed < time.Second || elapsed >= time.Second+20*time.Millisecond {
			t.Errorf("took %v, want the 1 s Retry-After plus less than MinBackoff", elapsed)
		}
		var statuses []int
		for _, r := range srv.Requests() {
			if isOperation(r) && r.Auth == "digest" {
				statuses = append(statuses, r.Status)
			}
		}
		if fmt.Sprint(statuses) != "[429 204]" {
			t.Errorf("authenticated operation requests answered %v, want [429 204]", statuses)
		}
	})
}

// A Retry-After past the call's deadline is not waited for: the 429 comes
// back at once. In a synctest bubble the round trips take no time, so the
// deadline (900 ms, shorter than the 1 s Retry-After) is no timing bet.
func TestRetryAfterBeyondDeadlineReturnsAtOnce(t *testing.T) {
	const deadline = 900 * time.Millisecond
	for _, tc := range []struct {
		name string
		opts []authedit.Option
		ctx  func(context.Context) (context.Context, context.CancelFunc)
	}{
		{"context deadline", nil, func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, deadline)
		}},
		{"client timeout", []authedit.Option{authedit.WithTimeout(deadline)}, context.WithCancel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, p := newPipeAtlas(t)
				var sl sleeps
				c, err := authedit.NewClient(p.URL, srv.Owner().ServiceAccount(), append(tc.opts, authedit.WithTransport(p.tr), sl.clock())...)
				if err != nil {
					t.Fatal(err)
				}
				if out, err := c.Remove(t.Context(), srv.OrgID(), "ffffffffffffffffffffffff"); out != authedit.NotFound || err != nil {
					t.Fatalf("warm-up: %v, %v", out, err) // fetches the token
				}
				srv.ResetRequests()
				srv.FailNext(1, http.StatusTooManyRequests) // Retry-After: 1
				ctx, cancel := tc.ctx(t.Context())
				defer cancel()
				start := time.Now()
				out, err := c.Remove(ctx, srv.OrgID(), srv.Keys()[0])
				var ae *authedit.APIError
				if out != authedit.Failed || !errors.As(err, &ae) || ae.StatusCode != 429 || ae.RetryAfter != time.Second || ae.ErrorCode != "RATE_LIMITED" {
					t.Errorf("Remove = %v, %v; want failed, *APIError 429 with Retry-After 1s", out, err)
				}
				if w := sl.waits(); len(w) != 0 || time.Since(start) != 0 {
					t.Errorf("waited %v, %v; want the 429 at once", w, time.Since(start))
				}
				if got := srv.CountRequests(isOperation); got != 1 {
					t.Errorf("operation requests = %d, want 1", got)
				}
			})
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Run("seconds", func(t *testing.T) {
		s := newScripted(t, step{status: 503, retryAfter: "7"})
		var sl sleeps
		code, _ := del(t, t.Context(), s.client(t, fast(3, &sl)), orgID, keyID)
		if w := sl.waits(); code != 204 || len(w) != 1 || w[0] < 7*time.Second || w[0] >= 7*time.Second+10*time.Millisecond {
			t.Errorf("status %d, waits %v; want 204 after one wait in [7s, 7.01s)", code, w)
		}
	})
	t.Run("HTTP date", func(t *testing.T) {
		s := newScripted(t, step{status: 429, retryAfter: time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)})
		var sl sleeps
		code, _ := del(t, t.Context(), s.client(t, fast(3, &sl)), orgID, keyID)
		if w := sl.waits(); code != 204 || len(w) != 1 || w[0] < time.Second || w[0] > 3*time.Second+10*time.Millisecond {
			t.Errorf("status %d, waits %v; want 204 after one wait of 2-3 s", code, w)
		}
	})
	t.Run("malformed falls back to backoff", func(t *testing.T) {
		s := newScripted(t, step{status: 429, retryAfter: "soon"})
		var sl sleeps
		code, _ := del(t, t.Context(), s.client(t, fast(3, &sl)), orgID, keyID)
		if code != 204 {
			t.Errorf("status %d", code)
		}
		inBackoff(t, sl.waits())
	})
	t.Run("beyond MaxRetryAfter", func(t *testing.T) {
		s := newScripted(t, step{status: 429, retryAfter: "120"})
		var sl sleeps
		p := authedit.RetryPolicy{MaxAttempts: 3, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, MaxRetryAfter: time.Minute}
		code, info := del(t, t.Context(), s.client(t, authedit.WithRetry(p), sl.clock()), orgID, keyID)
		if code != 429 || info.Attempts != 1 || len(sl.waits()) != 0 {
			t.Errorf("status %d, %+v, waits %v; want the 429 at once", code, info, sl.waits())
		}
	})
}

// A context that ends during a retry wait ends the call at once, on a
// synctest bubble's clock: after exactly the 100 ms, not the 10 s backoff.
func TestRetryWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		p := newPipeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
		}))
		c := keyClient(t, p.URL, authedit.WithTransport(p.tr), authedit.WithRetry(authedit.RetryPolicy{MinBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second}))
		ctx, cancel := context.WithCancel(t.Context()) // no deadline: the wait starts, then is cut short
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.DeleteOrgApiKeyWithResponse(ctx, orgID, keyID, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Errorf("returned after %v, want 100ms", d)
		}
		if n.Load() != 1 {
			t.Errorf("requests = %d, want 1", n.Load())
		}
	})
}

func TestRetryConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	_ = l.Close()
	var sl sleeps
	c, err := authedit.NewClient(url, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"}, fast(3, &sl))
	if err != nil {
		t.Fatal(err)
	}
	var info authedit.RetryInfo
	_, err = c.DeleteOrgApiKeyWithResponse(authedit.WithRetryInfo(t.Context(), &info), orgID, keyID, nil)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want connection refused", err)
	}
	if info.Attempts != 3 || info.EarlierMayHaveApplied {
		t.Errorf("RetryInfo = %+v, want 3 attempts, nothing applied (nothing was sent)", info)
	}
}

func TestRetryDroppedConnection(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	keys := srv.Keys()
	var sl sleeps
	c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), fast(3, &sl))
	if err != nil {
		t.Fatal(err)
	}
	srv.DropNext(1)
	out, err := c.Remove(t.Context(), srv.OrgID(), keys[0])
	if out != authedit.AlreadyRemoved || err != nil {
		t.Errorf("Remove after a lost answer = %v, %v; want already removed", out, err)
	}
	if out, err := c.Remove(t.Context(), srv.OrgID(), keys[0]); out != authedit.NotFound || err != nil {
		t.Errorf("Remove again = %v, %v; want not found", out, err)
	}
	noRetry, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), authedit.WithoutRetry())
	if err != nil {
		t.Fatal(err)
	}
	srv.DropNext(1)
	var info authedit.RetryInfo
	_, err = noRetry.DeleteOrgApiKeyWithResponse(authedit.WithRetryInfo(t.Context(), &info), srv.OrgID(), keys[1], nil)
	if !errors.Is(err, io.EOF) || info.Attempts != 1 {
		t.Errorf("without retries: err %v, %+v; want EOF after 1 attempt", err, info)
	}
	if srv.HasKey(keys[1]) || len(srv.Keys()) != len(keys)-2 {
		t.Error("the dropped requests did not take effect")
	}
}

func TestRetryOnlyReplayableIdempotentRequests(t *testing.T) {
	s := newScripted(t, step{status: 503}, step{status: 503})
	var sl sleeps
	tr, err := authedit.NewTransport(s.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"}, fast(3, &sl))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: tr}
	send := func(method string, body io.Reader, header ...string) (int, int32) {
		t.Helper()
		s.n.Store(0)
		req, err := http.NewRequestWithContext(t.Context(), method, s.URL+"/x", body)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode, s.n.Load()
	}
	if code, n := send(http.MethodPost, nil); code != 503 || n != 1 {
		t.Errorf("POST: %d after %d requests, want 503 after 1", code, n)
	}
	if code, n := send(http.MethodPost, nil, "Idempotency-Key", "k1"); code != 204 || n != 3 {
		t.Errorf("POST with Idempotency-Key: %d after %d requests, want 204 after 3", code, n)
	}
	s.mu.Lock()
	s.bodies = nil
	s.mu.Unlock()
	if code, n := send(http.MethodPut, bytes.NewReader([]byte("payload"))); code != 204 || n != 3 {
		t.Errorf("PUT with GetBody: %d after %d requests, want 204 after 3", code, n)
	}
	s.mu.Lock()
	if fmt.Sprint(s.bodies) != "[payload payload payload]" {
		t.Errorf("bodies sent = %q, want the payload each time", s.bodies)
	}
	s.mu.Unlock()
	if code, n := send(http.MethodPut, io.NopCloser(bytes.NewReader([]byte("once")))); code != 503 || n != 1 {
		t.Errorf("PUT without GetBody: %d after %d requests, want 503 after 1", code, n)
	}
}

// Every attempt is authenticated afresh: digest with the next nc on the
// cached nonce, bearer with the current token.
func TestRetryReauthenticatesEachAttempt(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	keys := srv.Keys()
	var rec authRecorder
	c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), authedit.WithTransport(&rec), fast(4, new(sleeps)))
	if err != nil {
		t.Fatal(err)
	}
	deleteOK(t, c, srv.OrgID(), keys[0]) // challenge, nc=1
	srv.FailNext(2, http.StatusInternalServerError)
	deleteOK(t, c, srv.OrgID(), keys[1]) // nc=2, 3, 4
	sent := rec.sent()
	if len(sent) != 5 {
		t.Fatalf("sent %d requests, want 5", len(sent))
	}
	for i, h := range sent[1:] {
		cr, err := digest.ParseCredentials(h)
		if err != nil || cr.Nc != i+1 {
			t.Errorf("request %d: %q, want digest nc=%d", i+1, h, i+1)
		}
	}

	srv.ResetRequests()
	var brec authRecorder
	sc, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount(), authedit.WithTransport(&brec), fast(4, new(sleeps)))
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext(2, http.StatusInternalServerError)
	deleteOK(t, sc, srv.OrgID(), keys[2])
	if got := srv.CountRequests(func(r atlastest.Request) bool { return isOperation(r) && r.Auth == "bearer" }); got != 3 {
		t.Errorf("bearer operation requests = %d, want 3", got)
	}
	if got := srv.CountRequests(isToken); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
}

// The round-trip budgets of the benchmarks issue hold with retries on, by
// default and configured.
func TestRetryKeepsRoundTripBudgets(t *testing.T) {
	for name, opts := range map[string][]authedit.Option{
		"default":    nil,
		"configured": {authedit.WithRetry(authedit.RetryPolicy{MaxAttempts: 10, MinBackoff: time.Millisecond})},
	} {
		t.Run(name+"/digest warmed", func(t *testing.T) {
			const n = 20
			srv := atlastest.NewTestServer(t, atlastest.WithSeedKeys(n))
			c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			keys := srv.Keys()
			deleteOK(t, c, srv.OrgID(), keys[0])
			srv.ResetRequests()
			for _, k := range keys[1 : n+1] {
				deleteOK(t, c, srv.OrgID(), k)
			}
			if got := len(srv.Requests()); got != n {
				t.Errorf("%d warmed digest deletes cost %d requests, want %d", n, got, n)
			}
		})
		t.Run(name+"/service account cold", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { coldServiceAccount(t, opts...) })
		})
	}
}

// coldServiceAccount removes 64 keys at once on a cold service-account
// client, in a synctest bubble where latency (20 ms, on the bubble's clock)
// keeps the calls overlapping: one token request, one request per key.
func coldServiceAccount(t *testing.T, opts ...authedit.Option) {
	const n = 64
	srv, p := newPipeAtlas(t, atlastest.WithSeedKeys(n))
	srv.SetLatency(20 * time.Millisecond)
	c, err := authedit.NewClient(p.URL, srv.Owner().ServiceAccount(), append(opts, authedit.WithTransport(p.tr))...)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, k := range srv.Keys()[:n] {
		wg.Go(func() {
			<-start
			if out, err := c.Remove(t.Context(), srv.OrgID(), k); out != authedit.Removed {
				t.Errorf("Remove %s = %v, %v", k, out, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := srv.CountRequests(isToken); got != 1 {
		t.Errorf("%d goroutines on a cold client made %d token requests, want 1", n, got)
	}
	if got := srv.CountRequests(isOperation); got != n {
		t.Errorf("operation requests = %d, want %d", got, n)
	}
}

func TestRemoveOutcomes(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	keys := srv.Keys()
	var sl sleeps
	c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), fast(4, &sl))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if out, err := c.Remove(ctx, srv.OrgID(), keys[0]); out != authedit.Removed || err != nil {
		t.Errorf("existing key: %v, %v; want removed", out, err)
	}
	if out, err := c.Remove(ctx, srv.OrgID(), keys[0]); out != authedit.NotFound || err != nil {
		t.Errorf("same key again: %v, %v; want not found", out, err)
	}
	srv.FailNext(1, http.StatusTooManyRequests) // not applied: the key's absence after it is a plain not-found
	if out, err := c.Remove(ctx, srv.OrgID(), keys[0]); out != authedit.NotFound || err != nil {
		t.Errorf("gone key after a 429: %v, %v; want not found", out, err)
	}
	srv.FailNext(1, http.StatusInternalServerError) // not applied here, but it could have been
	if out, err := c.Remove(ctx, srv.OrgID(), keys[0]); out != authedit.AlreadyRemoved || err != nil {
		t.Errorf("gone key after a 500: %v, %v; want already removed", out, err)
	}
	srv.FailNext(1, http.StatusInternalServerError)
	if out, err := c.Remove(ctx, srv.OrgID(), keys[1]); out != authedit.Removed || err != nil {
		t.Errorf("existing key after a 500: %v, %v; want removed", out, err)
	}
	var ae *authedit.APIError
	if out, err := c.Remove(ctx, "ffffffffffffffffffffffff", keys[2]); out != authedit.Failed || !errors.As(err, &ae) || ae.StatusCode != 404 || !errors.Is(err, authedit.ErrOrgNotFound) {
		t.Errorf("unknown org: %v, %v; want failed, *APIError 404 matching ErrOrgNotFound", out, err)
	}
	var pe *authedit.ParamError
	if out, err := c.Remove(ctx, srv.OrgID(), "../x"); out != authedit.Failed || !errors.As(err, &pe) {
		t.Errorf("bad id: %v, %v; want failed, *ParamError", out, err)
	}
	for o, s := range map[authedit.Outcome]string{authedit.Failed: "failed", authedit.Removed: "removed", authedit.AlreadyRemoved: "already removed", authedit.NotFound: "not found", 9: "Outcome(9)"} {
		if o.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(o), o.String(), s)
		}
	}
}

// closeFirst is a listener that closes the first n connections it
// accepts, before any TLS handshake: the client's request is never written.
type closeFirst struct {
	net.Listener
	n atomic.Int32
}

func (l *closeFirst) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.n.Add(-1) < 0 {
			return c, err
		}
		_ = c.Close()
	}
}

// newTLSAtlas serves a reference server over TLS; the first closed
// connections are closed by the listener right after accepting them.
func newTLSAtlas(t *testing.T, closed int32) (*atlastest.Server, *httptest.Server, *closeFirst) {
	t.Helper()
	srv := atlastest.New()
	ts := httptest.NewUnstartedServer(srv.Handler())
	l := &closeFirst{Listener: ts.Listener}
	l.n.Store(closed)
	ts.Listener = l
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return srv, ts, l
}

// Whether an earlier attempt may have been applied is decided by whether
// its request was written, not by the kind of error it ended with.
func TestRetryAppliedOnlyWhenWritten(t *testing.T) {
	t.Run("closed during the TLS handshake, then not found", func(t *testing.T) {
		srv, ts, l := newTLSAtlas(t, 1)
		var sl sleeps
		c, err := authedit.NewClient(ts.URL, srv.Owner().APIKey(), authedit.WithTransport(ts.Client().Transport), fast(3, &sl))
		if err != nil {
			t.Fatal(err)
		}
		var info authedit.RetryInfo
		resp, err := c.DeleteOrgApiKeyWithResponse(authedit.WithRetryInfo(t.Context(), &info), srv.OrgID(), "ffffffffffffffffffffffff", nil)
		if err != nil || resp.StatusCode() != http.StatusBadRequest || info.Attempts != 2 || info.EarlierMayHaveApplied {
			t.Fatalf("delete = %v, %+v; want 400 API_KEY_NOT_FOUND on attempt 2, nothing applied before", err, info)
		}
		if len(srv.Requests()) == 0 {
			t.Fatal("the server saw no request")
		}
		// The same through Remove, with a caller's own trace, which must
		// still see its events.
		l.n.Store(1)
		ts.Client().Transport.(*http.Transport).CloseIdleConnections() // the next attempt must dial again
		var wrote atomic.Int32
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Add(1) },
		})
		if out, err := c.Remove(ctx, srv.OrgID(), "ffffffffffffffffffffffff"); out != authedit.NotFound || err != nil {
			t.Errorf("Remove = %v, %v; want not found (the first attempt was never sent)", out, err)
		}
		if wrote.Load() == 0 {
			t.Error("the caller's WroteRequest hook was not called")
		}
	})
	t.Run("written then dropped, then not found", func(t *testing.T) {
		srv, ts, _ := newTLSAtlas(t, 0)
		var sl sleeps
		c, err := authedit.NewClient(ts.URL, srv.Owner().APIKey(), authedit.WithTransport(ts.Client().Transport), fast(3, &sl))
		if err != nil {
			t.Fatal(err)
		}
		key := srv.Keys()[0]
		srv.DropNext(1)
		if out, err := c.Remove(t.Context(), srv.OrgID(), key); out != authedit.AlreadyRemoved || err != nil {
			t.Errorf("Remove after a lost answer = %v, %v; want already removed", out, err)
		}
		if srv.HasKey(key) {
			t.Error("the dropped request did not take effect")
		}
	})
}
