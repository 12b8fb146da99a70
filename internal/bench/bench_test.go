package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongodb-forks/digest"

	"github.com/atlascontract/deleteorgapikey"
	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// newAtlas is the reference server with n deletable keys besides its
// default few, and a bucket that never runs short unless opts set one.
func newAtlas(tb testing.TB, n int, opts ...atlastest.Option) *atlastest.Server {
	srv := atlastest.NewServer(append([]atlastest.Option{atlastest.WithSeedKeys(n),
		atlastest.WithRateLimit(1<<30, 1<<30, time.Second)}, opts...)...)
	tb.Cleanup(srv.Close)
	return srv
}

func isOperation(r atlastest.Request) bool { return r.Method == http.MethodDelete }

func isToken(r atlastest.Request) bool { return r.Path == contract.TokenPath() }

// newTransport is a fresh loopback transport keeping enough idle
// connections for conc concurrent requests (http.DefaultTransport keeps 2
// per host, which would make concurrent benchmarks measure TCP setup).
func newTransport(tb testing.TB, conc int) *http.Transport {
	tr := &http.Transport{MaxIdleConnsPerHost: conc}
	tb.Cleanup(tr.CloseIdleConnections)
	return tr
}

func newClient(tb testing.TB, baseURL string, creds authedit.Credentials,
	tr http.RoundTripper) *deleteorgapikey.Client {
	c, err := deleteorgapikey.NewClient(baseURL, creds, deleteorgapikey.WithTransport(tr))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// client is our client, or the generated one around another transport.
type client = gen.ClientWithResponsesInterface

// genClient is the generated client over hc, with the versioned Accept.
func genClient(tb testing.TB, baseURL string, hc *http.Client) client {
	c, err := gen.NewClientWithResponses(baseURL, gen.WithHTTPClient(hc),
		gen.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Accept", contract.AcceptHeader())
			return nil
		}))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// clientDelete deletes through c and wants a 204.
func clientDelete(c client, orgID, keyID string) error {
	resp, err := c.DeleteOrgApiKeyWithResponse(context.Background(), orgID, keyID, nil)
	if err == nil && resp.StatusCode() != http.StatusNoContent {
		err = fmt.Errorf("delete %s: status %d: %s", keyID, resp.StatusCode(), resp.Body)
	}
	return err
}

// deleteAll calls del(0) .. del(n-1) from conc goroutines, each taking the
// next index, and returns how many failed, logging the first error. A
// failure does not stop the rest of the figure.
func deleteAll(b *testing.B, n, conc int, del func(i int) error) int {
	var next, failed atomic.Int64
	var first sync.Once
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := del(i); err != nil {
					failed.Add(1)
					first.Do(func() { b.Logf("of %d, the first failure: %v", n, err) })
				}
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// deleteKeys times deleting srv's first b.N keys through c, from conc
// goroutines, and reports the share that failed (failed/op).
func deleteKeys(b *testing.B, srv *atlastest.Server, c client, conc int) {
	keys := srv.Keys()
	b.ResetTimer()
	failed := deleteAll(b, b.N, conc, func(i int) error {
		return clientDelete(c, srv.OrgID(), keys[i])
	})
	b.StopTimer()
	b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
}

// BenchmarkDigestRoundTrips (figure 1) deletes b.N seeded keys (run it with
// -benchtime=10000x) on the reference server with real digest
// authentication, from a cold client, at concurrency 1 and 32, and reports
// the requests the server saw per delete (req/op): our client (authedit,
// icholy/digest underneath) against the generated client over
// github.com/mongodb-forks/digest, the transport the official Atlas Go SDK
// uses.
func BenchmarkDigestRoundTrips(b *testing.B) {
	for _, impl := range []string{"authedit", "mongodb-forks"} {
		for _, conc := range []int{1, 32} {
			b.Run(fmt.Sprintf("impl=%s/conc=%d", impl, conc), func(b *testing.B) {
				srv, tr := newAtlas(b, b.N), newTransport(b, conc)
				o := srv.Owner()
				var c client = newClient(b, srv.URL, o.APIKey(), tr)
				if impl == "mongodb-forks" {
					c = genClient(b, srv.URL, &http.Client{Transport: digest.
						NewTransportWithHTTPRoundTripper(o.PublicKey, o.PrivateKey, tr)})
				}
				deleteKeys(b, srv, c, conc)
				b.ReportMetric(float64(srv.CountRequests(isOperation))/float64(b.N), "req/op")
			})
		}
	}
}

// BenchmarkServiceAccountTokens (figure 2) deletes b.N seeded keys (run it
// with -benchtime=10000x) on the reference server from a cold
// service-account client at concurrency 64, and reports the token requests
// the server saw, per 10,000 deletes, and the operation requests per delete.
func BenchmarkServiceAccountTokens(b *testing.B) {
	b.Run("conc=64", func(b *testing.B) {
		srv := newAtlas(b, b.N)
		c := newClient(b, srv.URL, srv.Owner().ServiceAccount(), newTransport(b, 64))
		deleteKeys(b, srv, c, 64)
		b.ReportMetric(float64(srv.CountRequests(isToken))*10000/float64(b.N), "tokens/10k-deletes")
		b.ReportMetric(float64(srv.CountRequests(isOperation))/float64(b.N), "req/op")
	})
}

// newBareServer is the cheapest server that lets each client do all of its
// work: 204 with no body to any request that carries an Authorization
// header, which it never checks; a digest challenge to a request without
// one (a digest client's first request, once); and a fixed token at the
// spec's token path.
func newBareServer(tb testing.TB) *httptest.Server {
	challenge := `Digest realm="MMS Public API", nonce="bm9uY2U", algorithm=MD5, qop="auth"`
	token := []byte(`{"access_token":"bare-token","token_type":"Bearer","expires_in":3600}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == contract.TokenPath():
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(token)
		case r.Header.Get("Authorization") == "":
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// BenchmarkServerThroughput (figure 3) measures deletes per second at
// concurrency 16 on loopback against the reference server (spec checks on
// every request, real authentication, rate limiting, request log) and
// against the bare server, with the same client for both:
//
//   - scheme=bearer: the generated client through an authedit.Transport
//     holding a token, so that nearly all the difference is server cost;
//   - scheme=digest: our warm digest client, which computes a new response
//     per request; the reference server verifies it, the bare server does
//     not look at it.
//
// Every timed request on the reference server deletes a seeded key (204).
func BenchmarkServerThroughput(b *testing.B) {
	const conc = 16
	for _, scheme := range []string{"bearer", "digest"} {
		for _, server := range []string{"bare", "atlastest"} {
			b.Run("scheme="+scheme+"/server="+server, func(b *testing.B) {
				srv := newAtlas(b, b.N+1)
				baseURL := srv.URL
				if server == "bare" {
					baseURL = newBareServer(b).URL
				}
				tr := newTransport(b, conc)
				var c client = newClient(b, baseURL, srv.Owner().APIKey(), tr)
				if scheme == "bearer" {
					bearer, err := authedit.NewTransport(baseURL, srv.Owner().ServiceAccount())
					if err != nil {
						b.Fatal(err)
					}
					bearer.Base = tr
					c = genClient(b, baseURL, &http.Client{Transport: bearer})
				}
				// Warm: connect, and take a challenge or a token.
				if err := clientDelete(c, srv.OrgID(), srv.Keys()[b.N]); err != nil {
					b.Fatal(err)
				}
				deleteKeys(b, srv, c, conc)
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deletes/s")
			})
		}
	}
}

// build builds the one-shot program oneshot/name into a temporary
// directory and returns its path.
func build(tb testing.TB, name string) string {
	bin := filepath.Join(tb.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./oneshot/"+name)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./oneshot/%s: %v\n%s", name, err, out)
	}
	return bin
}

// env is the environment of a one-shot process against srv: its base URL
// and organization, and the credentials' variables.
func env(srv *atlastest.Server, creds ...string) []string {
	return append(os.Environ(), append([]string{"MONGODB_ATLAS_OPS_MANAGER_URL=" + srv.URL,
		"MONGODB_ATLAS_ORG_ID=" + srv.OrgID()}, creds...)...)
}

// runOnce runs the program bin once, to remove keyID.
func runOnce(bin string, env []string, keyID string) error {
	cmd := exec.Command(bin, keyID)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), keyID, err, out)
	}
	return nil
}

// benchProcesses runs procs processes of oneshot/ours per op, conc at a
// time, each removing one key as the owner's service account, on a new
// server made with opts. It does so with a new token store shared by the
// processes (store=file) and without (store=none), and reports per op the
// server's token requests (tokens/run) and the processes that failed
// (failed/run); ns/op is the wall time of the op's processes.
func benchProcesses(b *testing.B, procs, conc int, opts ...atlastest.Option) {
	bin := build(b, "ours")
	for _, store := range []string{"none", "file"} {
		b.Run("store="+store, func(b *testing.B) {
			tokens, failed := 0, 0
			for range b.N {
				b.StopTimer()
				srv := newAtlas(b, procs, opts...)
				o := srv.Owner()
				e := env(srv, "MONGODB_ATLAS_CLIENT_ID="+o.ClientID,
					"MONGODB_ATLAS_CLIENT_SECRET="+o.ClientSecret)
				if store == "file" {
					e = append(e, "BENCH_TOKEN_STORE="+b.TempDir())
				}
				keys := srv.Keys()
				b.StartTimer()
				failed += deleteAll(b, procs, conc, func(i int) error {
					return runOnce(bin, e, keys[i])
				})
				tokens += srv.CountRequests(isToken)
			}
			b.ReportMetric(float64(tokens)/float64(b.N), "tokens/run")
			b.ReportMetric(float64(failed)/float64(b.N), "failed/run")
		})
	}
}

// BenchmarkTokensAcrossProcesses (figure 6): 100 processes one after the
// other; the token limit is lifted so that only tokens are counted. Run it
// with -benchtime 1x.
func BenchmarkTokensAcrossProcesses(b *testing.B) {
	benchProcesses(b, 100, 1, atlastest.WithTokenRateLimit(1<<20, time.Minute))
}

// BenchmarkProcessesAtTokenLimit (figure 7): 60 processes, 4 at a time,
// against atlastest's default token limit (Atlas's 50 a minute per client,
// refilled evenly). Run it with -benchtime 1x.
func BenchmarkProcessesAtTokenLimit(b *testing.B) {
	benchProcesses(b, 60, 4)
}

// benchBulk removes keys keys per op from a new server whose organization
// bucket holds 100 requests and regains 100 a second, small enough to
// dominate the run. It removes them as the owner's service account at
// concurrency 4, the first dups of them listed twice: all at once with a
// Remover that knows the budget (paced), or with one plain Client.Remove
// per id. It reports per op the 429s received, the deletes sent (retries
// included) and the retries, the results returned and those not Removed,
// and the wall time (ns/op, the server's set-up left out) also divided by
// the bucket's minimum for the keys: all but the first 100 of them wait
// for the refill.
func benchBulk(b *testing.B, paced bool, keys, dups int) {
	const bulkBudget, bulkConc = 100, 4
	var tooMany, deletes, results, failed int
	for range b.N {
		b.StopTimer()
		srv := newAtlas(b, keys, atlastest.WithRateLimit(bulkBudget, bulkBudget, time.Second))
		ids := srv.Keys()[:keys]
		ids = append(ids, ids[:dups]...)
		c := newClient(b, srv.URL, srv.Owner().ServiceAccount(), newTransport(b, bulkConc))
		var got []deleteorgapikey.Result
		b.StartTimer()
		if paced {
			r := &deleteorgapikey.Remover{Client: c, Concurrency: bulkConc,
				Capacity: bulkBudget, Refill: bulkBudget, Period: time.Second}
			got = r.RemoveAll(context.Background(), srv.OrgID(), ids)
		} else {
			got = make([]deleteorgapikey.Result, len(ids))
			deleteAll(b, len(ids), bulkConc, func(i int) error {
				got[i].Outcome, got[i].Err = c.Remove(context.Background(), srv.OrgID(), ids[i])
				return got[i].Err
			})
		}
		b.StopTimer()
		results += len(got)
		failed += len(got) - len(slices.DeleteFunc(got, func(r deleteorgapikey.Result) bool {
			return r.Outcome != deleteorgapikey.Removed
		}))
		deletes += srv.CountRequests(isOperation)
		tooMany += srv.CountRequests(func(r atlastest.Request) bool {
			return isOperation(r) && r.Status == http.StatusTooManyRequests
		})
	}
	n, minimum := float64(b.N), time.Duration(keys-bulkBudget)*time.Second/bulkBudget
	b.ReportMetric(b.Elapsed().Seconds()/n/minimum.Seconds(), "ratio-to-min")
	b.ReportMetric(float64(tooMany)/n, "429s/run")
	b.ReportMetric(float64(deletes)/n, "deletes/run")
	b.ReportMetric(float64(deletes-b.N*keys)/n, "retries/run")
	b.ReportMetric(float64(results)/n, "results/run")
	b.ReportMetric(float64(failed)/n, "failed/run")
}

// BenchmarkBulkRemoval (figure 8): 1,000 keys removed by a Remover
// (paced=true) and by plain Remove calls, whose retry policy waits out
// each 429's Retry-After (paced=false). Run it with -benchtime 1x: each run
// takes about 9 s.
func BenchmarkBulkRemoval(b *testing.B) {
	for _, paced := range []bool{false, true} {
		b.Run(fmt.Sprintf("paced=%v", paced), func(b *testing.B) { benchBulk(b, paced, 1000, 0) })
	}
}

// BenchmarkBulkDuplicates (figure 9): 1,000 ids, 100 of them given twice,
// to a Remover on the same bucket: 900 deletes and 900 results are right.
// Run it with -benchtime 1x.
func BenchmarkBulkDuplicates(b *testing.B) {
	benchBulk(b, true, 900, 100)
}

// BenchmarkOneShot (figure 10) times whole one-shot processes, from fork
// to exit: read the environment, build a client, remove one key with a
// digest API key. oneshot/ours uses this module's client; oneshot/peer is
// the same job by hand with net/http and icholy/digest. Both are built
// once, outside the timer, and run against the same reference server, in
// pairs whose order alternates, so that a burst of load hits both. It
// reports the median wall time of each (ours-ms, peer-ms) and their ratio
// (ours/peer). Run it with -benchtime 100x or more.
func BenchmarkOneShot(b *testing.B) {
	bins := []string{build(b, "ours"), build(b, "peer")}
	srv := newAtlas(b, 2*b.N)
	o, keys := srv.Owner(), srv.Keys()
	e := env(srv, "MONGODB_ATLAS_PUBLIC_API_KEY="+o.PublicKey,
		"MONGODB_ATLAS_PRIVATE_API_KEY="+o.PrivateKey)
	var ms [2][]float64 // of ours, of the peer
	b.ResetTimer()
	for i := range 2 * b.N {
		k := i/2%2 ^ i%2 // pairs of ours then the peer, and of the peer then ours
		start := time.Now()
		if err := runOnce(bins[k], e, keys[i]); err != nil {
			b.Fatal(err)
		}
		ms[k] = append(ms[k], time.Since(start).Seconds()*1e3)
	}
	b.StopTimer()
	for k := range ms {
		slices.Sort(ms[k])
	}
	ours, peer := ms[0][b.N/2], ms[1][b.N/2] // the medians, the upper one if b.N is even
	b.ReportMetric(ours, "ours-ms")
	b.ReportMetric(peer, "peer-ms")
	b.ReportMetric(ours/peer, "ours/peer")
}
