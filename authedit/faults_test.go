package authedit_test

import (
	"context"
	"errors"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

// Batches of deletes under every fault the reference server injects: each
// key must be removed exactly once, and the per-key report must say what
// the server's log says happened.

// result is the report of a batch: the outcome and error per key.
type result struct {
	outcome map[string]authedit.Outcome
	err     map[string]error
}

func (r result) count(o authedit.Outcome) int {
	n := 0
	for _, v := range r.outcome {
		if v == o {
			n++
		}
	}
	return n
}

// removeAll removes keys with workers goroutines; before(i) runs before
// key i is started (with one worker: right before its request).
func removeAll(ctx context.Context, c *authedit.Client, org string, keys []string, workers int, before func(i int)) result {
	r := result{outcome: map[string]authedit.Outcome{}, err: map[string]error{}}
	var mu sync.Mutex
	var next atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(keys) {
					return
				}
				if before != nil {
					before(i)
				}
				out, err := c.Remove(ctx, org, keys[i])
				mu.Lock()
				r.outcome[keys[i]], r.err[keys[i]] = out, err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return r
}

// ledger is what the server's log says about each key.
type ledger struct {
	applied  map[string]int // requests that deleted the key (204, answered or not)
	lost     map[string]bool
	statuses map[int]int // operation requests by status, dropped ones included
	dropped  int
}

func readLedger(srv *atlastest.Server) ledger {
	l := ledger{applied: map[string]int{}, lost: map[string]bool{}, statuses: map[int]int{}}
	for _, r := range srv.Requests() {
		if !isOperation(r) {
			continue
		}
		l.statuses[r.Status]++
		if r.Dropped {
			l.dropped++
		}
		if r.Status == http.StatusNoContent {
			k := path.Base(r.Path)
			l.applied[k]++
			l.lost[k] = l.lost[k] || r.Dropped
		}
	}
	return l
}

// checkBatch compares the report with the server's log and state.
func checkBatch(t *testing.T, srv *atlastest.Server, keys []string, r result) ledger {
	t.Helper()
	l := readLedger(srv)
	for _, k := range keys {
		if n := l.applied[k]; n != 1 {
			t.Errorf("key %s: deleted by %d requests, want exactly 1", k, n)
		}
		want := authedit.Removed
		if l.lost[k] {
			want = authedit.AlreadyRemoved // its 204 was dropped: the retry found no key
		}
		if got := r.outcome[k]; got != want {
			t.Errorf("key %s: reported %v (err %v), want %v", k, got, r.err[k], want)
		}
		if srv.HasKey(k) {
			t.Errorf("key %s still exists", k)
		}
	}
	if left := srv.Keys(); len(left) != 0 {
		t.Errorf("%d keys left: %v", len(left), left)
	}
	removed, already := r.count(authedit.Removed), r.count(authedit.AlreadyRemoved)
	answered := l.statuses[http.StatusNoContent] - countTrue(l.lost)
	if removed != answered || already != countTrue(l.lost) || removed+already != len(keys) {
		t.Errorf("report: %d removed, %d already removed, %d not found, %d failed; server: %d answered 204s, %d lost 204s",
			removed, already, r.count(authedit.NotFound), r.count(authedit.Failed), answered, countTrue(l.lost))
	}
	t.Logf("report: %d removed, %d already removed, %d not found, %d failed; server log: %v, %d dropped",
		removed, already, r.count(authedit.NotFound), r.count(authedit.Failed), l.statuses, l.dropped)
	return l
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// One key at a time, with a fault scripted for most keys. The retry waits
// are recorded, not slept, and the test server's 500-request bucket never
// empties here: what the server sees depends on the script alone, never on
// how fast the machine is.
func TestBatchSequentialUnderFaults(t *testing.T) {
	srv := atlastest.NewTestServer(t, atlastest.WithSeedKeys(45))
	keys := srv.Keys()
	if len(keys) != 50 {
		t.Fatalf("%d keys, want 50", len(keys))
	}
	var sl sleeps
	c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), fast(8, &sl))
	if err != nil {
		t.Fatal(err)
	}
	r := removeAll(t.Context(), c, srv.OrgID(), keys, 1, func(i int) {
		switch i % 5 {
		case 1:
			srv.FailNext(1, http.StatusInternalServerError)
		case 2:
			srv.DropNext(1)
		case 3:
			srv.FailNext(2, http.StatusTooManyRequests)
		case 4:
			srv.FailNext(1, http.StatusInternalServerError) // then the drop
			srv.DropNext(1)
		}
	})
	l := checkBatch(t, srv, keys, r)
	if l.statuses[500] != 20 || l.statuses[429] != 20 || l.dropped != 20 || countTrue(l.lost) != 20 {
		t.Errorf("server saw %d 500s, %d 429s, %d drops (%d of deletes that took effect); want 20 each",
			l.statuses[500], l.statuses[429], l.dropped, countTrue(l.lost))
	}
}

// A request the rate limiter refused deletes nothing, even when its answer
// is lost: the key stays, and Remove reports the 429 that followed. The
// bucket holds one request and refills once a day, so it is empty for the
// whole test however slowly the test runs.
func TestDropOnRateLimitedRequest(t *testing.T) {
	srv := atlastest.NewTestServer(t, atlastest.WithRateLimit(1, 1, 24*time.Hour))
	keys := srv.Keys()
	var sl sleeps
	c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), fast(4, &sl))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.Remove(t.Context(), srv.OrgID(), keys[0]); out != authedit.Removed || err != nil {
		t.Fatalf("first key: %v, %v; want removed", out, err)
	}
	srv.DropNext(1)
	out, err := c.Remove(t.Context(), srv.OrgID(), keys[1])
	var ae *authedit.APIError
	if out != authedit.Failed || !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests || ae.RetryAfter != 24*time.Hour {
		t.Errorf("second key: %v, %v; want failed, *APIError 429 asking to retry after 24h", out, err)
	}
	if !srv.HasKey(keys[1]) {
		t.Error("the refused request deleted the key")
	}
	l := readLedger(srv)
	if l.statuses[429] != 2 || l.dropped != 1 || len(sl.waits()) != 1 {
		t.Errorf("server saw %v, %d dropped; client waited %v; want two 429s, the first dropped, one wait", l.statuses, l.dropped, sl.waits())
	}
}

// Eight workers on a cold service account, faults set mid-batch: still one
// token request, every key removed once. Waits are recorded, not slept; in
// a synctest bubble, 3 ms of latency on the bubble's clock keeps the
// workers' requests overlapping at no cost.
func TestBatchConcurrentUnderFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, p := newPipeAtlas(t, atlastest.WithSeedKeys(45))
		srv.SetLatency(3 * time.Millisecond)
		keys := srv.Keys()
		var sl sleeps
		c, err := authedit.NewClient(p.URL, srv.Owner().ServiceAccount(), authedit.WithTransport(p.tr), fast(12, &sl))
		if err != nil {
			t.Fatal(err)
		}
		srv.FailNext(6, http.StatusInternalServerError)
		srv.DropNext(6)
		r := removeAll(t.Context(), c, srv.OrgID(), keys, 8, func(i int) {
			if i == 25 { // at least 18 removals have ended: the faults above are used up
				srv.FailNext(4, http.StatusTooManyRequests)
				srv.DropNext(3)
			}
		})
		l := checkBatch(t, srv, keys, r)
		if l.statuses[500] != 6 || l.statuses[429] != 4 || l.dropped != 9 {
			t.Errorf("server saw %d 500s, %d 429s, %d drops; want 6, 4, 9", l.statuses[500], l.statuses[429], l.dropped)
		}
		if got := srv.CountRequests(isToken); got != 1 {
			t.Errorf("token requests = %d, want 1", got)
		}
		if countTrue(l.lost) == 0 {
			t.Error("no drop hit a delete that took effect; the test proves nothing")
		}
	})
}
