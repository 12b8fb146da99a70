package authedit_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

// absentKey is a well-formed key id that no test server holds.
const absentKey = "0123456789abcdef01234567"

// A Remover removes many keys at the pace of the organization's budget,
// each id once, and says what became of each.
func ExampleRemover() {
	srv := atlastest.NewServer() // stands in for https://cloud.mongodb.com
	defer srv.Close()
	c, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount())
	if err != nil {
		log.Fatal(err)
	}
	r := &authedit.Remover{Client: c} // one per process: it remembers what it spent
	keys := srv.Keys()
	ids := []string{keys[0], keys[1], keys[0], absentKey} // a repeat is sent once
	for _, res := range r.RemoveAll(context.Background(), srv.OrgID(), ids) {
		fmt.Println(res.Outcome, res.Err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a run cut short: what was not sent says so, and is untouched
	res := r.RemoveAll(ctx, srv.OrgID(), keys[2:3])[0]
	fmt.Println(res.Outcome, errors.Is(res.Err, authedit.ErrNotAttempted), srv.HasKey(keys[2]))
	// Output:
	// removed <nil>
	// removed <nil>
	// not found <nil>
	// failed true true
}

// One caller alone, with a bucket of 10 refilled at 10 a second: 50 keys
// meet no 429 and take the 4 s the bucket needs; a second run of the same
// Remover right after still meets none, because its bucket remembers.
func TestRemoveAllAloneMeetsNo429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startInBubble(t, atlastest.WithRateLimit(10, 10, time.Second))
		r := a.remover(t)
		for _, run := range []struct {
			keys int
			took time.Duration // the bucket's minimum: what it does not hold at the start, at 10 a second
		}{{50, 4 * time.Second}, {20, 2 * time.Second}} {
			keys := addKeys(a.srv, run.keys)
			start := time.Now()
			res := r.RemoveAll(t.Context(), a.srv.OrgID(), keys)
			took := time.Since(start)
			checkRemoved(t, a.srv, keys, res)
			if n := a.srv.CountRequests(func(r atlastest.Request) bool { return r.Status == http.StatusTooManyRequests }); n != 0 {
				t.Errorf("%d keys: the server answered 429 %d times, want 0", run.keys, n)
			}
			// Faster would have met an empty bucket; slower wastes the budget.
			if took < run.took || took > run.took+100*time.Millisecond {
				t.Errorf("%d keys took %v, want %v (+ at most one refill)", run.keys, took, run.took)
			}
		}
	})
}

// Another caller empties the organization's bucket mid-run: the requests
// that meet the empty bucket get 429, are sent again after Retry-After,
// and every key ends removed, each exactly once.
func TestRemoveAllAnotherCallerDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startInBubble(t, atlastest.WithRateLimit(10, 10, time.Second))
		a.otherCallerAt(t, 2, -1)
		r := a.remover(t)
		keys := addKeys(a.srv, 30)
		res := r.RemoveAll(t.Context(), a.srv.OrgID(), keys)

		checkRemoved(t, a.srv, keys, res)
		hits := a.bulk()
		var limited int
		for i, h := range hits {
			if h.status != http.StatusTooManyRequests {
				continue
			}
			limited++
			wait, err := time.ParseDuration(h.retryAfter + "s")
			if err != nil || wait <= 0 {
				t.Fatalf("429 with Retry-After %q", h.retryAfter)
			}
			next := nextFor(hits[i+1:], h.key)
			if next == nil || next.at.Before(h.at.Add(wait)) {
				t.Errorf("key %s: 429 at %v with Retry-After %v, sent again at %v", h.key, h.at, wait, next)
			}
		}
		if limited == 0 {
			t.Fatal("the run met no 429: the other caller did not drain the bucket")
		}
		t.Logf("%d requests of the run, %d answered 429", len(hits), limited)
		for _, k := range keys {
			if n := a.count(func(h hit) bool { return h.key == k && h.status != http.StatusTooManyRequests }); n != 1 {
				t.Errorf("key %s: %d requests answered other than 429, want 1 (its 204)", k, n)
			}
		}
	})
}

// A fresh Remover learns from the first answer what another caller spent
// before the run, and sends no more than the server has left: no 429.
func TestRemoveAllLearnsWhatOthersSpent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startInBubble(t, atlastest.WithRateLimit(10, 10, time.Second))
		other := a.client(t, a.srv.Owner().APIKey(), authedit.WithoutRetry())
		for range 8 {
			if _, err := other.Remove(t.Context(), a.srv.OrgID(), absentKey); err != nil {
				t.Fatal(err)
			}
		}
		a.removeAllMeetingNo429(t, 20)
	})
}

// Another caller spends half the budget while four requests of the run
// are on their way to the server (200 ms, so not yet counted). The
// answers that follow show the server's lower count; the Remover takes
// it, less its requests still on their way: no 429.
func TestRemoveAllCountsRequestsUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startInBubble(t, atlastest.WithRateLimit(10, 10, time.Second))
		a.delay = func(int) time.Duration { return 200 * time.Millisecond }
		a.otherCallerAt(t, 2, 5)
		a.removeAllMeetingNo429(t, 30)
	})
}

// The first answer is slow (a token to fetch, a connection to open): the
// local bucket refills meanwhile while the server's, full, cannot. With
// nothing else in flight the first answer's count is exact, and the
// Remover takes it: no 429.
func TestRemoveAllSlowFirstAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startInBubble(t, atlastest.WithRateLimit(10, 10, time.Second))
		a.delay = func(nth int) time.Duration {
			if nth == 1 {
				return 300 * time.Millisecond
			}
			return 0
		}
		a.removeAllMeetingNo429(t, 20)
	})
}

// Another caller takes the budget in the middle of the run, when the
// Remover spends it as fast as it refills, and the request that meets the
// empty bucket gets 429. The whole run pauses for Retry-After and the key
// gets through (two 429s at most) instead of meeting a 429 on each repeat
// until the policy gives up.
func TestRemoveAllRecoversFromADrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startInBubble(t, atlastest.WithRateLimit(10, 10, time.Second))
		a.otherCallerAt(t, 25, -1)
		r := a.remover(t)
		keys := addKeys(a.srv, 60)
		res := r.RemoveAll(t.Context(), a.srv.OrgID(), keys)
		checkRemoved(t, a.srv, keys, res)
		var limited []hit
		for _, h := range a.bulk() {
			if h.status == http.StatusTooManyRequests {
				limited = append(limited, h)
			}
		}
		if len(limited) == 0 || len(limited) > 2 || limited[len(limited)-1].key != limited[0].key {
			t.Errorf("429s %+v; want one or two, for the key that met the empty bucket", limited)
		}
	})
}

// A 429 goes back to the Remover, which sends the key again after the
// pause, within the Client's RetryPolicy: its attempts count across the
// re-sends, and a lost answer before the 429 still makes AlreadyRemoved.
func TestRemoveAllResendsA429WithinThePolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startInBubble(t, atlastest.WithRateLimit(10, 10, time.Second))
		for _, tc := range []struct {
			attempts, fail int
			drop           bool
			want           authedit.Outcome
			sent           int
		}{
			{attempts: 2, fail: 2, want: authedit.Failed, sent: 2},
			{attempts: 3, fail: 2, want: authedit.Removed, sent: 3},
			{attempts: 4, drop: true, want: authedit.AlreadyRemoved, sent: 3}, // lost, 429, not found
		} {
			policy := authedit.RetryPolicy{MaxAttempts: tc.attempts, MinBackoff: time.Millisecond}
			r := &authedit.Remover{Client: a.client(t, a.srv.Owner().ServiceAccount(), authedit.WithRetry(policy)), Capacity: 10, Refill: 10, Period: time.Second}
			key := a.srv.AddKey()
			before := len(a.bulk())
			a.before = nil
			if tc.drop {
				a.srv.DropNext(1)
				calls := 0
				a.before = func(int) {
					if calls++; calls == 2 {
						a.srv.FailNext(1, http.StatusTooManyRequests)
					}
				}
			}
			a.srv.FailNext(tc.fail, http.StatusTooManyRequests)
			res := r.RemoveAll(t.Context(), a.srv.OrgID(), []string{key})[0]
			var ae *authedit.APIError
			if tc.want == authedit.Failed && (!errors.As(res.Err, &ae) || ae.StatusCode != http.StatusTooManyRequests || ae.Attempts != tc.attempts) {
				t.Errorf("%+v: %v %v, want the 429 after %d attempts", tc, res.Outcome, res.Err, tc.attempts)
			}
			if res.Outcome != tc.want || tc.want != authedit.Failed && res.Err != nil {
				t.Errorf("%+v: %v %v, want %v", tc, res.Outcome, res.Err, tc.want)
			}
			if n := len(a.bulk()) - before; n != tc.sent {
				t.Errorf("%+v: %d requests, want %d", tc, n, tc.sent)
			}
		}
	})
}

// A Remover told a larger capacity than the server's keeps to the
// server's Ratelimit-Limit: after a long pause (a 429 with Retry-After 5 s)
// its bucket holds no more than the server's, though 20 requests may be in
// flight at once.
func TestRemoveAllKeepsToTheServersLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startInBubble(t, atlastest.WithRateLimit(10, 10, time.Second))
		a.srv.SetRetryAfter(5 * time.Second)
		a.srv.FailNext(1, http.StatusTooManyRequests) // the run's first request
		r := &authedit.Remover{
			Client:      a.client(t, a.srv.Owner().ServiceAccount(), authedit.WithoutRetry()),
			Concurrency: 20, Capacity: 30, Refill: 10, Period: time.Second,
		}
		keys := addKeys(a.srv, 40)
		start := time.Now()
		res := r.RemoveAll(t.Context(), a.srv.OrgID(), keys)
		if !errors.Is(res[0].Err, authedit.ErrRateLimited) || !a.srv.HasKey(keys[0]) {
			t.Errorf("first key: %v %v, present %v; want the injected 429", res[0].Outcome, res[0].Err, a.srv.HasKey(keys[0]))
		}
		checkRemoved(t, a.srv, keys[1:], res[1:])
		hits := a.bulk()
		if n := a.count(func(h hit) bool { return h.status == http.StatusTooManyRequests }); n != 1 {
			t.Errorf("%d 429s, want only the injected one", n)
		}
		if len(hits) > 1 && hits[1].at.Sub(start) < 5*time.Second {
			t.Errorf("second request %v after the start, within the 5 s pause", hits[1].at.Sub(start))
		}
	})
}

// With retries off, a 429 is the key's result, as from Remove, and it
// pauses every request of the run until its Retry-After has passed.
func TestRemoveAllPausesOnA429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startInBubble(t, atlastest.WithRateLimit(10, 10, time.Second))
		a.otherCallerAt(t, 2, -1)
		r := &authedit.Remover{Client: a.client(t, a.srv.Owner().ServiceAccount(), authedit.WithoutRetry()), Capacity: 10, Refill: 10, Period: time.Second}
		keys := addKeys(a.srv, 30)
		res := r.RemoveAll(t.Context(), a.srv.OrgID(), keys)

		hits := a.bulk()
		first := -1
		for i, h := range hits {
			if h.status == http.StatusTooManyRequests {
				first = i
				break
			}
		}
		if first < 0 {
			t.Fatal("the run met no 429: the other caller did not drain the bucket")
		}
		t429 := hits[first].at
		wait, _ := time.ParseDuration(hits[first].retryAfter + "s")
		for _, h := range hits[first:] {
			if h.at.After(t429) && h.at.Before(t429.Add(wait)) {
				t.Errorf("request for %s at %v, during the pause from %v for %v", h.key, h.at, t429, wait)
			}
			if h.status == http.StatusTooManyRequests && !h.at.Equal(t429) {
				t.Errorf("another 429 at %v, after the pause", h.at)
			}
		}
		status := map[string]int{}
		for _, h := range hits {
			status[h.key] = h.status
		}
		for i, k := range keys {
			got := res[i]
			switch status[k] {
			case http.StatusTooManyRequests:
				if got.Outcome != authedit.Failed || !errors.Is(got.Err, authedit.ErrRateLimited) || !a.srv.HasKey(k) {
					t.Errorf("key %s, answered 429: %v %v, present %v; want failed, ErrRateLimited, present", k, got.Outcome, got.Err, a.srv.HasKey(k))
				}
			case http.StatusNoContent:
				if got.Outcome != authedit.Removed || got.Err != nil || a.srv.HasKey(k) {
					t.Errorf("key %s, answered 204: %v %v, present %v", k, got.Outcome, got.Err, a.srv.HasKey(k))
				}
			default:
				t.Errorf("key %s: last answer %d", k, status[k])
			}
		}
	})
}

// 100 ids with 10 repeats: 90 deletes at the server, 90 results in the
// order of first appearance.
func TestRemoveAllDuplicates(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	c, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount())
	if err != nil {
		t.Fatal(err)
	}
	keys := addKeys(srv, 90)
	var ids []string
	for i, k := range keys {
		ids = append(ids, k)
		if i%9 == 0 {
			ids = append(ids, keys[i/2]) // already given
		}
	}
	if len(ids) != 100 {
		t.Fatalf("built %d ids", len(ids))
	}
	res := (&authedit.Remover{Client: c}).RemoveAll(t.Context(), srv.OrgID(), ids)
	checkRemoved(t, srv, keys, res)
	if n := srv.CountRequests(func(r atlastest.Request) bool { return r.Method == http.MethodDelete }); n != 90 {
		t.Errorf("%d deletes at the server, want 90", n)
	}
}

// A run cut short by its context, compared with the server's request log:
// nothing deleted twice, every removal real, every key not attempted never
// sent and still there; the requests under way when the deadline came are
// reported as failed with the deadline, not as not attempted.
func TestRemoveAllContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startInBubble(t, atlastest.WithRateLimit(10, 10, time.Second))
		a.srv.SetLatency(250 * time.Millisecond) // some requests are under way at the deadline
		r := a.remover(t)
		keys := addKeys(a.srv, 50)
		ctx, cancel := context.WithTimeout(t.Context(), 2520*time.Millisecond)
		defer cancel()
		res := r.RemoveAll(ctx, a.srv.OrgID(), keys)
		synctest.Wait() // the server has logged the requests the client left

		statuses := map[string][]int{}
		for _, q := range a.srv.Requests() {
			if q.Method == http.MethodDelete {
				k := q.Path[strings.LastIndex(q.Path, "/")+1:]
				statuses[k] = append(statuses[k], q.Status)
			}
		}
		if len(res) != len(keys) {
			t.Fatalf("%d results for %d keys", len(res), len(keys))
		}
		var removed, notAttempted, underWay int
		for i, k := range keys {
			got, sent := res[i], statuses[k]
			switch {
			case got.KeyID != k:
				t.Errorf("result %d is for %s, want %s", i, got.KeyID, k)
			case got.Outcome == authedit.Removed && got.Err == nil:
				removed++
				if fmt.Sprint(sent) != "[204]" || a.srv.HasKey(k) {
					t.Errorf("key %s reported removed: answers %v, present %v", k, sent, a.srv.HasKey(k))
				}
			case errors.Is(got.Err, authedit.ErrNotAttempted):
				notAttempted++
				if got.Outcome != authedit.Failed || !errors.Is(got.Err, context.DeadlineExceeded) || len(sent) != 0 || !a.srv.HasKey(k) {
					t.Errorf("key %s reported not attempted (%v %v): answers %v, present %v", k, got.Outcome, got.Err, sent, a.srv.HasKey(k))
				}
			case got.Outcome == authedit.Failed && errors.Is(got.Err, context.DeadlineExceeded):
				underWay++ // the server aborted it: no answer, no change
				if fmt.Sprint(sent) != "[0]" || !a.srv.HasKey(k) {
					t.Errorf("key %s failed under way: answers %v, present %v", k, sent, a.srv.HasKey(k))
				}
			default:
				t.Errorf("key %s: %v %v", k, got.Outcome, got.Err)
			}
		}
		t.Logf("removed %d, not attempted %d, under way %d", removed, notAttempted, underWay)
		if removed == 0 || notAttempted == 0 || underWay == 0 {
			t.Errorf("removed %d, not attempted %d, under way %d: want some of each", removed, notAttempted, underWay)
		}
	})
}

// Every outcome and error is Remove's: a lost answer (AlreadyRemoved), an
// absent key (NotFound), an id the spec refuses, a member (ErrForbidden),
// an unknown organization. Twin servers (same seed, same ids) take the run
// and the same calls of Remove one by one.
func TestRemoveAllOutcomesAsRemove(t *testing.T) {
	bulk, single := atlastest.NewTestServer(t), atlastest.NewTestServer(t)
	keys := bulk.Keys()
	if fmt.Sprint(keys) != fmt.Sprint(single.Keys()) || bulk.OrgID() != single.OrgID() {
		t.Fatal("the twin servers differ")
	}
	noWait := authedit.WithClock(nil, func(context.Context, time.Duration) error { return nil })
	newClient := func(srv *atlastest.Server, member bool) *authedit.Client { // principals differ: secrets are random
		p := srv.Owner()
		if member {
			p = srv.Member()
		}
		c, err := authedit.NewClient(srv.URL, p.ServiceAccount(), noWait)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const unknownOrg = "0123456789abcdef0123abcd"
	var pe *authedit.ParamError
	isParamError := func(err error) bool { return errors.As(err, &pe) }
	isNil := func(err error) bool { return err == nil }
	is := func(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }
	runs := []struct {
		member bool
		org    string // "": the server's
		ids    []string
		want   []authedit.Outcome
		errs   []func(error) bool
	}{
		{false, "", []string{keys[0], absentKey, keys[1], "not-a-key", keys[0]},
			[]authedit.Outcome{authedit.AlreadyRemoved, authedit.NotFound, authedit.Removed, authedit.Failed},
			[]func(error) bool{isNil, isNil, isNil, isParamError}},
		{true, "", []string{keys[2]}, []authedit.Outcome{authedit.Failed}, []func(error) bool{is(authedit.ErrForbidden)}},
		{false, unknownOrg, []string{keys[2]}, []authedit.Outcome{authedit.Failed}, []func(error) bool{is(authedit.ErrOrgNotFound)}},
	}
	bulk.DropNext(1) // the first request's answer is lost: deleted, then retried
	single.DropNext(1)
	for _, run := range runs {
		org := bulk.OrgID()
		if run.org != "" {
			org = run.org
		}
		res := (&authedit.Remover{Client: newClient(bulk, run.member)}).RemoveAll(t.Context(), org, run.ids)
		sc := newClient(single, run.member)
		if len(res) != len(run.want) {
			t.Fatalf("%v: %d results, want %d", run.ids, len(res), len(run.want))
		}
		for i, got := range res {
			o, err := sc.Remove(t.Context(), org, run.ids[i])
			if got.KeyID != run.ids[i] || got.Outcome != o || fmt.Sprint(got.Err) != fmt.Sprint(err) {
				t.Errorf("%s: RemoveAll gave %v %v, Remove %v %v", run.ids[i], got.Outcome, got.Err, o, err)
			}
			if got.Outcome != run.want[i] || !run.errs[i](got.Err) {
				t.Errorf("%s: %v %v, want %v", run.ids[i], got.Outcome, got.Err, run.want[i])
			}
		}
	}
	if res := (&authedit.Remover{}).RemoveAll(t.Context(), bulk.OrgID(), keys[3:4]); res[0].Outcome != authedit.Failed || res[0].Err == nil {
		t.Errorf("a Remover without Client: %v %v", res[0].Outcome, res[0].Err)
	}
	if !bulk.HasKey(keys[2]) || !bulk.HasKey(keys[3]) {
		t.Error("a refused run removed a key")
	}
}

// checkRemoved checks that res reports every one of keys removed, in
// order, and that the server has none of them left.
func checkRemoved(t *testing.T, srv *atlastest.Server, keys []string, res []authedit.Result) {
	t.Helper()
	if len(res) != len(keys) {
		t.Fatalf("%d results for %d keys", len(res), len(keys))
	}
	for i, k := range keys {
		if got := res[i]; got.KeyID != k || got.Outcome != authedit.Removed || got.Err != nil {
			t.Errorf("result %d: %s %v %v, want %s removed", i, got.KeyID, got.Outcome, got.Err, k)
		}
		if srv.HasKey(k) {
			t.Errorf("key %s is still there", k)
		}
	}
}

func addKeys(srv *atlastest.Server, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = srv.AddKey()
	}
	return keys
}

// bubbleAtlas is an atlastest server inside a synctest bubble: real
// HTTP/1.1 between a real http.Server and http.Transport, over net.Pipe
// connections instead of a loopback listener, so that client, server and
// pacing all run on the bubble's fake clock. It logs when each operation
// request arrived.
type bubbleAtlas struct {
	srv *atlastest.Server
	tr  *http.Transport

	// For the Remover's nth request (from 1), set before the run: before
	// runs first (another caller's turn), then the request takes delay to
	// reach the server.
	before func(nth int)
	delay  func(nth int) time.Duration

	mu   sync.Mutex
	sent int // the Remover's requests so far
	hits []hit
}

// hit is one operation request as it reached the server.
type hit struct {
	at         time.Time // on the bubble's clock
	key        string
	bearer     bool // the Remover's requests; the other caller uses digest
	status     int
	retryAfter string
}

// startInBubble serves atlastest over in-memory pipes. Call it inside a
// synctest.Test bubble only: a.delay waits on the bubble's fake clock, so
// outside one it would wait on the wall clock.
func startInBubble(t *testing.T, opts ...atlastest.Option) *bubbleAtlas {
	a := &bubbleAtlas{srv: atlastest.New(opts...)}
	l := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	hs := &http.Server{Handler: http.HandlerFunc(a.serve)}
	go func() { _ = hs.Serve(l) }()
	a.tr = &http.Transport{DialContext: l.dial}
	t.Cleanup(func() {
		a.tr.CloseIdleConnections()
		_ = hs.Close()
	})
	return a
}

func (a *bubbleAtlas) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		a.srv.Handler().ServeHTTP(w, r)
		return
	}
	bearer := strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
	if bearer {
		a.mu.Lock()
		a.sent++
		nth := a.sent
		a.mu.Unlock()
		if a.before != nil {
			a.before(nth)
		}
		if a.delay != nil {
			select {
			case <-time.After(a.delay(nth)):
			case <-r.Context().Done():
				return
			}
		}
	}
	h := hit{at: time.Now(), key: r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:], bearer: bearer}
	sw := &statusWriter{ResponseWriter: w}
	defer func() { // also when the handler aborts
		h.status, h.retryAfter = sw.status, w.Header().Get("Retry-After")
		a.mu.Lock()
		a.hits = append(a.hits, h)
		a.mu.Unlock()
	}()
	a.srv.Handler().ServeHTTP(sw, r)
}

// remover is a Remover of the owner's service account with the bucket the
// tests give the server: 10 requests, regaining 10 a second.
func (a *bubbleAtlas) remover(t *testing.T) *authedit.Remover {
	return &authedit.Remover{Client: a.client(t, a.srv.Owner().ServiceAccount()), Capacity: 10, Refill: 10, Period: time.Second}
}

// removeAllMeetingNo429 removes n new keys with a.remover and checks that
// every one is removed and that no request of the run met a 429.
func (a *bubbleAtlas) removeAllMeetingNo429(t *testing.T, n int) {
	t.Helper()
	keys := addKeys(a.srv, n)
	res := a.remover(t).RemoveAll(t.Context(), a.srv.OrgID(), keys)
	checkRemoved(t, a.srv, keys, res)
	if n := a.count(func(h hit) bool { return h.status == http.StatusTooManyRequests }); n != 0 {
		t.Errorf("the run met %d 429s, want 0", n)
	}
}

// client is a client of a's server for creds, through the in-memory
// transport. The URL's loopback address is never dialled.
func (a *bubbleAtlas) client(t *testing.T, creds authedit.Credentials, opts ...authedit.Option) *authedit.Client {
	c, err := authedit.NewClient("http://127.0.0.1", creds, append(opts, authedit.WithTransport(a.tr))...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// otherCallerAt makes another caller (the owner's API key) spend the
// organization's budget just before the Remover's nth request is served:
// spend requests, or fewer if the bucket runs empty (spend < 0: until it
// does).
func (a *bubbleAtlas) otherCallerAt(t *testing.T, n, spend int) {
	other := a.client(t, a.srv.Owner().APIKey(), authedit.WithoutRetry())
	a.before = func(nth int) {
		if nth != n {
			return
		}
		for i := 0; i != spend; i++ { // an absent key spends the budget like any other
			if _, err := other.Remove(context.Background(), a.srv.OrgID(), absentKey); errors.Is(err, authedit.ErrRateLimited) {
				return
			}
		}
		if spend < 0 {
			t.Error("the other caller could not empty the bucket")
		}
	}
}

// bulk is the Remover's requests, in the order answered.
func (a *bubbleAtlas) bulk() []hit {
	a.mu.Lock()
	defer a.mu.Unlock()
	var hits []hit
	for _, h := range a.hits {
		if h.bearer {
			hits = append(hits, h)
		}
	}
	return hits
}

func (a *bubbleAtlas) count(match func(hit) bool) int {
	n := 0
	for _, h := range a.bulk() {
		if match(h) {
			n++
		}
	}
	return n
}

func nextFor(hits []hit, key string) *hit {
	for i := range hits {
		if hits[i].key == key {
			return &hits[i]
		}
	}
	return nil
}

// statusWriter notes the status sent; Unwrap lets atlastest's
// http.ResponseController reach the connection (DropNext hijacks it).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pipeListener hands the server one end of a net.Pipe per dial.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
