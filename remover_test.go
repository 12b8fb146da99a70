package deleteorgapikey

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

// bulk is an atlastest server in a synctest bubble whose organization's
// bucket holds 10 requests and regains 10 a second, and a Remover that
// knows it.
func bulk(t *testing.T) (*atlastest.Server, *Remover) {
	srv := atlastest.New(atlastest.WithRateLimit(10, 10, time.Second))
	c := bubbleClient(t, srv.Handler(), srv.Owner().ServiceAccount())
	return srv, &Remover{Client: c, Capacity: 10, Refill: 10, Period: time.Second}
}

func addKeys(srv *atlastest.Server, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = srv.AddKey()
	}
	return keys
}

func count429(srv *atlastest.Server) int {
	return srv.CountRequests(func(r atlastest.Request) bool { return r.Status == 429 })
}

// As the only caller, a Remover meets no 429 and takes the time the bucket
// needs, no more; a second run right after still meets none, because the
// Remover's bucket remembers the first.
func TestRemoveAllAloneMeetsNo429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, r := bulk(t)
		for _, run := range []struct {
			keys int
			took time.Duration // what the bucket lacks at the start, at 10 a second
		}{{50, 4 * time.Second}, {20, 2 * time.Second}} {
			keys := addKeys(srv, run.keys)
			start := time.Now()
			for _, res := range r.RemoveAll(t.Context(), srv.OrgID(), keys) {
				if res.Outcome != Removed {
					t.Fatalf("%s: %v, %v", res.KeyID, res.Outcome, res.Err)
				}
			}
			if took := time.Since(start); took < run.took || took > run.took+100*time.Millisecond {
				t.Errorf("%d keys took %v, want %v", run.keys, took, run.took)
			}
		}
		if n := count429(srv); n != 0 {
			t.Errorf("the server answered 429 %d times, want none", n)
		}
	})
}

// A Remover learns from the first answer what others spent, and meets no
// 429. A 429 all the same pauses the run for its Retry-After, and its key
// is sent again.
func TestRemoveAllSharesTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, r := bulk(t)
		other := bubbleClient(t, srv.Handler(), srv.Owner().APIKey())
		for range 8 {
			if _, err := other.Remove(t.Context(), srv.OrgID(), absentKey); err != nil {
				t.Fatal(err)
			}
		}
		for _, res := range r.RemoveAll(t.Context(), srv.OrgID(), addKeys(srv, 20)) {
			if res.Outcome != Removed {
				t.Fatalf("%s: %v, %v", res.KeyID, res.Outcome, res.Err)
			}
		}
		if n := count429(srv); n != 0 {
			t.Fatalf("the server answered 429 %d times, want none", n)
		}
		srv.FailNext(1, http.StatusTooManyRequests) // Retry-After: 1
		start := time.Now()
		for _, res := range r.RemoveAll(t.Context(), srv.OrgID(), addKeys(srv, 5)) {
			if res.Outcome != Removed {
				t.Errorf("%s: %v, %v", res.KeyID, res.Outcome, res.Err)
			}
		}
		if took := time.Since(start); count429(srv) != 1 || took < time.Second {
			t.Errorf("%d 429s, the run took %v; want one, and a pause of 1s", count429(srv), took)
		}
	})
}

// A Retry-After longer than the policy's MaxRetryAfter ends the run at
// once: the keys not sent come back with the 429. The next run on the same
// Remover does not wait for it.
func TestRemoveAllPauseIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, r := bulk(t)
		srv.SetRetryAfter(time.Hour)
		srv.FailNext(1, http.StatusTooManyRequests)
		keys := addKeys(srv, 5)
		start := time.Now()
		results := r.RemoveAll(t.Context(), srv.OrgID(), keys)
		if took := time.Since(start); took != 0 {
			t.Errorf("the run took %v, want no wait", took)
		}
		for i, res := range results {
			var e *APIError
			sent := !errors.Is(res.Err, ErrNotAttempted)
			if !errors.As(res.Err, &e) || e.RetryAfter != time.Hour || sent != (i == 0) ||
				!srv.HasKey(keys[i]) {
				t.Errorf("%d: %v, %v; want the 429 and its Retry-After, the key kept",
					i, res.Outcome, res.Err)
			}
		}
		start = time.Now()
		for _, res := range r.RemoveAll(t.Context(), srv.OrgID(), keys) {
			if res.Outcome != Removed {
				t.Errorf("%s: %v, %v", res.KeyID, res.Outcome, res.Err)
			}
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("the next run took %v, want no pause", took)
		}
	})
}

// An answer that holds for every key ends the run: of 1,000 keys, at most
// Concurrency+1 are sent, with at most 2 token requests. The others come
// back not attempted, for the same reason.
func TestRemoveAllStopsEarly(t *testing.T) {
	srv := atlastest.New()
	key, account := srv.Owner().APIKey(), srv.Owner().ServiceAccount()
	key.PrivateKey, account.ClientSecret = "wrong-private-key", "wrong-client-secret"
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("%024x", i)
	}
	tests := []struct {
		name  string
		creds authedit.Credentials
		orgID string
		class error
	}{
		{"wrong secret", account, srv.OrgID(), ErrUnauthorized},
		{"wrong key", key, srv.OrgID(), ErrUnauthorized},
		{"not an owner", srv.Member().ServiceAccount(), srv.OrgID(), ErrForbidden},
		{"not an owner, digest", srv.Member().APIKey(), srv.OrgID(), ErrForbidden},
		{"no such organization", srv.Owner().ServiceAccount(), absentKey, ErrOrgNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv.ResetRequests()
				r := &Remover{Client: bubbleClient(t, srv.Handler(), tc.creds), Concurrency: 4}
				results := r.RemoveAll(t.Context(), tc.orgID, ids)
				ops := srv.CountRequests(isOperation)
				tokens := len(srv.Requests()) - ops
				if ops > r.Concurrency+1 || tokens > 2 {
					t.Errorf("%d operation and %d token requests, want at most %d and 2",
						ops, tokens, r.Concurrency+1)
				}
				var notAttempted int
				for _, res := range results {
					if !errors.Is(res.Err, tc.class) {
						t.Fatalf("%s: %v, want %v", res.KeyID, res.Err, tc.class)
					}
					if errors.Is(res.Err, ErrNotAttempted) {
						notAttempted++
					}
				}
				if want := len(ids) - r.Concurrency - 1; notAttempted < want {
					t.Errorf("%d keys not attempted, want at least %d", notAttempted, want)
				}
			})
		})
	}
}

// Each distinct id is sent once, and results come in the order of first
// appearance; an id the spec refuses fails alone.
func TestRemoveAllDistinctIDs(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	c := newClient(t, srv.URL, srv.Owner().APIKey())
	k := srv.Keys()
	var got []string
	for _, res := range (&Remover{Client: c}).RemoveAll(t.Context(), srv.OrgID(),
		[]string{k[0], k[1], k[0], absentKey, "not-an-id", k[1]}) {
		got = append(got, fmt.Sprint(res.KeyID, " ", res.Outcome))
	}
	want := fmt.Sprint([]string{k[0] + " removed", k[1] + " removed", absentKey + " not found",
		"not-an-id failed"})
	if fmt.Sprint(got) != want {
		t.Errorf("results %v, want %v", got, want)
	}
	if n := srv.CountRequests(isOperation); n != 4 { // the challenge, 3 deletes
		t.Errorf("%d requests sent, want 4", n)
	}
	if res := (&Remover{}).RemoveAll(t.Context(), orgID, []string{keyID}); res[0].Err == nil {
		t.Error("a Remover without a Client removed something")
	}
}

// When the context ends, the keys never sent are not attempted, and are
// still there; the requests under way fail with the context's error.
func TestRemoveAllContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, r := bulk(t)
		srv.SetLatency(100 * time.Millisecond)
		r.Concurrency = 2
		keys := addKeys(srv, 20)
		ctx, cancel := context.WithTimeout(t.Context(), 350*time.Millisecond)
		defer cancel()
		var removed, notAttempted int
		for i, res := range r.RemoveAll(ctx, srv.OrgID(), keys) {
			switch {
			case res.Outcome == Removed:
				removed++
			case errors.Is(res.Err, ErrNotAttempted):
				notAttempted++
				if !srv.HasKey(keys[i]) {
					t.Errorf("%s is gone, but was not attempted", keys[i])
				}
			case !errors.Is(res.Err, context.DeadlineExceeded):
				t.Errorf("%s: %v, %v", res.KeyID, res.Outcome, res.Err)
			}
		}
		if removed == 0 || notAttempted == 0 {
			t.Errorf("%d removed, %d not attempted: want some of each", removed, notAttempted)
		}
	})
}

// The burst follows the latest RateLimit-Limit, never above Capacity: one
// low limit does not stick.
func TestBurstFollowsTheLatestLimit(t *testing.T) {
	b := (&Remover{Capacity: 10, Refill: 10, Period: time.Second}).bucketFor(orgID)
	for _, tc := range []struct{ limit, burst int }{{1, 1}, {500, 10}, {4, 4}, {0, 4}} {
		b.pending = 1
		b.observe(http.Header{"Ratelimit-Limit": {fmt.Sprint(tc.limit)}})
		if b.limiter.Burst() != tc.burst {
			t.Errorf("after a limit of %d the burst is %d, want %d",
				tc.limit, b.limiter.Burst(), tc.burst)
		}
	}
}
