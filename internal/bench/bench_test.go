package bench_test

// Benchmarks for BENCHMARKS.md. Each one comes with the baseline it is
// compared with, measured by the same benchmark function in the same run;
// internal/bench/ratio computes the ratios. The scale benchmark lives beside
// the server it measures (atlastest.BenchmarkDelete) and scripts/bench runs
// it from there.
//
// Nothing here asserts on time: a benchmark fails only when a delete does
// not get the answer it should.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
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

// Ids sent to the bare server, which accepts anything: valid per the spec,
// so that the client's checks pass.
const (
	bareOrg = "4888442a3354817a7320eb61"
	bareKey = "5b2d9c3e0f4a6b7c8d9e0f1a"
)

// newBareServer is the cheapest server that lets each client do all of its
// work: 204 with no body to any request that carries an Authorization
// header, which it never checks; a 401 digest challenge to a request without
// one (a digest client's first request, once); and a fixed token at the
// spec's token path. It reads no request bodies and writes no extra headers.
func newBareServer(tb testing.TB) *httptest.Server {
	tokenPath := contract.TokenPath()
	challenge := `Digest realm="` + atlastest.Realm + `", nonce="bXJjOWZ2c3V0b2x3eGZ0cGtqbGhpY2V3bmRxYXplbWs", opaque="b3BhcXVl", algorithm=SHA-256, qop="auth"`
	token := []byte(`{"access_token":"bare-token","token_type":"Bearer","expires_in":3600}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == tokenPath:
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

// newTransport is a fresh loopback transport keeping enough idle
// connections for conc concurrent requests (http.DefaultTransport keeps 2
// per host, which would make concurrent benchmarks measure TCP setup).
func newTransport(tb testing.TB, conc int) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(conc, 2)
	tr.MaxIdleConns = max(conc, 100)
	tb.Cleanup(tr.CloseIdleConnections)
	return tr
}

// rawDelete is a hand-written client: one net/http DELETE with the
// versioned Accept and the Authorization given, body drained and closed.
func rawDelete(ctx context.Context, hc *http.Client, base, org, key, auth string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/api/atlas/v2/orgs/"+org+"/apiKeys/"+key, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", contract.AcceptHeader())
	req.Header.Set("Authorization", auth)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("delete %s: status %d", key, resp.StatusCode)
	}
	return nil
}

// deleter is what clientDelete needs: our client, or the generated one
// around another transport.
type deleter interface {
	DeleteOrgApiKeyWithResponse(ctx context.Context, orgID, apiUserID string, params *gen.DeleteOrgApiKeyParams, reqEditors ...gen.RequestEditorFn) (*gen.DeleteOrgApiKeyResponse, error)
}

// clientDelete deletes through c and wants a 204.
func clientDelete(ctx context.Context, c deleter, org, key string) error {
	resp, err := c.DeleteOrgApiKeyWithResponse(ctx, org, key, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode() != http.StatusNoContent {
		return fmt.Errorf("delete %s: status %d: %s", key, resp.StatusCode(), resp.Body)
	}
	return nil
}

func newClient(tb testing.TB, base string, creds authedit.Credentials, tr http.RoundTripper) *deleteorgapikey.Client {
	c, err := deleteorgapikey.NewClient(base, creds, deleteorgapikey.WithTransport(tr))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// newAtlas is the reference server with n deletable keys (plus its default
// few) and a rate limit that never triggers.
func newAtlas(tb testing.TB, n int) *atlastest.Server {
	srv := atlastest.NewServer(atlastest.WithSeedKeys(n), atlastest.WithRateLimit(1<<30, 1<<30, time.Second))
	tb.Cleanup(srv.Close)
	return srv
}

func isOperation(r atlastest.Request) bool { return strings.HasPrefix(r.Path, "/api/atlas/") }

func isToken(r atlastest.Request) bool { return r.Path == contract.TokenPath() }

// deleteAll calls del(0) .. del(n-1) from conc goroutines, each taking the
// next index, and returns how many failed and the first error.
func deleteAll(n, conc int, del func(i int) error) (failed int, first error) {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		fails int
	)
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := del(i); err != nil {
					mu.Lock()
					if fails++; first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return fails, first
}

// reportFailures reports the share of deletes that failed (failed/op) and
// logs the first error. Benchmarks that use it do not stop at a failure, so
// that the rest of the figure is still measured.
func reportFailures(b *testing.B, failed int, first error) {
	if failed > 0 {
		b.Logf("%d of %d deletes failed, first: %v", failed, b.N, first)
	}
	b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
}

// mustDeleteAll is deleteAll failing the benchmark on any error.
func mustDeleteAll(b *testing.B, n, conc int, del func(i int) error) {
	if failed, err := deleteAll(n, conc, del); failed > 0 {
		b.Fatalf("%d of %d deletes failed, first: %v", failed, n, err)
	}
}

// bearerToken gets a token from the reference server by hand, for the
// hand-written client.
func bearerToken(tb testing.TB, srv *atlastest.Server) string {
	o := srv.Owner()
	req, err := http.NewRequest(http.MethodPost, srv.URL+contract.TokenPath(), strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(o.ClientID, o.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		tb.Fatalf("token: status %d, err %v", resp.StatusCode, err)
	}
	return "Bearer " + tok.AccessToken
}

// BenchmarkDigestRoundTrips (figure 1) deletes b.N seeded keys (run it with
// -benchtime=10000x) on the reference server with real digest
// authentication, from a cold client, at concurrency 1 and 32, and reports
// the requests the server saw per delete (req/op): our client (authedit,
// icholy/digest underneath) against the generated client over
// github.com/mongodb-forks/digest, the transport the official Atlas Go SDK
// uses.
func BenchmarkDigestRoundTrips(b *testing.B) {
	ctx := context.Background()
	for _, impl := range []string{"authedit", "mongodb-forks"} {
		for _, conc := range []int{1, 32} {
			b.Run(fmt.Sprintf("impl=%s/conc=%d", impl, conc), func(b *testing.B) {
				srv := newAtlas(b, b.N)
				tr := newTransport(b, conc)
				var c deleter
				if impl == "authedit" {
					c = newClient(b, srv.URL, srv.Owner().APIKey(), tr)
				} else {
					o := srv.Owner()
					hc := &http.Client{Transport: digest.NewTransportWithHTTPRoundTripper(o.PublicKey, o.PrivateKey, tr)}
					accept := func(_ context.Context, r *http.Request) error {
						r.Header.Set("Accept", contract.AcceptHeader())
						return nil
					}
					var err error
					if c, err = gen.NewClientWithResponses(srv.URL, gen.WithHTTPClient(hc), gen.WithRequestEditorFn(accept)); err != nil {
						b.Fatal(err)
					}
				}
				keys, org := srv.Keys(), srv.OrgID()
				b.ResetTimer()
				failed, err := deleteAll(b.N, conc, func(i int) error { return clientDelete(ctx, c, org, keys[i]) })
				b.StopTimer()
				b.ReportMetric(float64(srv.CountRequests(isOperation))/float64(b.N), "req/op")
				reportFailures(b, failed, err)
			})
		}
	}
}

// BenchmarkServiceAccountTokens (figure 2) deletes b.N seeded keys (run it
// with -benchtime=10000x) on the reference server from a cold
// service-account client at concurrency 64, and reports the token requests
// the server saw, per 10,000 deletes, and the operation requests per delete.
func BenchmarkServiceAccountTokens(b *testing.B) {
	const conc = 64
	ctx := context.Background()
	b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
		srv := newAtlas(b, b.N)
		c := newClient(b, srv.URL, srv.Owner().ServiceAccount(), newTransport(b, conc))
		keys, org := srv.Keys(), srv.OrgID()
		b.ResetTimer()
		mustDeleteAll(b, b.N, conc, func(i int) error { return clientDelete(ctx, c, org, keys[i]) })
		b.StopTimer()
		b.ReportMetric(float64(srv.CountRequests(isToken))*10000/float64(b.N), "tokens/10k-deletes")
		b.ReportMetric(float64(srv.CountRequests(isOperation))/float64(b.N), "req/op")
	})
}

// BenchmarkServerThroughput (figure 3) measures deletes per second at
// concurrency 16 on loopback against the reference server (spec checks on
// every request, real authentication, rate limiting, the generated strict
// server, request log) and against the bare server, with the same client
// for both:
//
//   - scheme=bearer: a hand-written net/http client (rawDelete) with a token
//     fetched before timing, so that nearly all the difference is server
//     cost;
//   - scheme=digest: our warm digest client, which computes a new response
//     per request; the reference server verifies it (hash, nonce MAC, nc
//     window), the bare server does not look at it.
//
// Every timed request on the reference server deletes a seeded key (204);
// deletes that fail are counted (failed/op), not fatal.
func BenchmarkServerThroughput(b *testing.B) {
	const conc = 16
	ctx := context.Background()
	for _, scheme := range []string{"bearer", "digest"} {
		for _, server := range []string{"bare", "atlastest"} {
			b.Run("scheme="+scheme+"/server="+server, func(b *testing.B) {
				base, org := "", bareOrg
				keys := []string{}
				var srv *atlastest.Server
				if server == "bare" {
					base = newBareServer(b).URL
				} else {
					srv = newAtlas(b, b.N+1)
					base, org, keys = srv.URL, srv.OrgID(), srv.Keys()
				}
				key := func(i int) string {
					if i < len(keys) {
						return keys[i]
					}
					return bareKey
				}
				tr := newTransport(b, conc)
				var del func(i int) error
				if scheme == "bearer" {
					auth := "Bearer bare-token"
					if srv != nil {
						auth = bearerToken(b, srv)
					}
					hc := &http.Client{Transport: tr}
					del = func(i int) error { return rawDelete(ctx, hc, base, org, key(i), auth) }
				} else {
					creds := authedit.Credentials(authedit.APIKey{PublicKey: "benchpub", PrivateKey: "benchpriv"})
					if srv != nil {
						creds = srv.Owner().APIKey()
					}
					c := newClient(b, base, creds, tr)
					del = func(i int) error { return clientDelete(ctx, c, org, key(i)) }
				}
				if err := del(b.N); err != nil { // warm: connect, digest challenge
					b.Fatal(err)
				}
				b.ResetTimer()
				failed, err := deleteAll(b.N, conc, del)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deletes/s")
				reportFailures(b, failed, err)
			})
		}
	}
}

// The process benchmarks (figures 6 and 7) re-execute this test binary: with
// childKeyEnv set it is one CLI-like process instead (see TestMain).
const (
	childKeyEnv   = "BENCH_CHILD_KEY"   // the key to remove; set only in a child
	childOrgEnv   = "BENCH_CHILD_ORG"   // its organization
	childStoreEnv = "BENCH_CHILD_STORE" // a FileTokenStore directory; empty: no store
	childDeadline = 5 * time.Second     // the child's whole Remove, token waits included
)

func TestMain(m *testing.M) {
	if key, ok := os.LookupEnv(childKeyEnv); ok {
		if err := childRemove(key); err != nil {
			fmt.Fprintln(os.Stderr, err) // authedit's errors carry no secret
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childRemove is what a CI job or cron run does: credentials and base URL
// from the environment (the Atlas CLI's variables), a new client, one
// Remove; with a token store when childStoreEnv names one.
func childRemove(key string) error {
	creds, err := authedit.CredentialsFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	var opts []deleteorgapikey.Option
	if dir := os.Getenv(childStoreEnv); dir != "" {
		store, err := authedit.NewFileTokenStore(dir)
		if err != nil {
			return err
		}
		opts = append(opts, deleteorgapikey.WithTokenStore(store))
	}
	c, err := deleteorgapikey.NewClient(authedit.BaseURLFromEnv(os.LookupEnv), creds, opts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), childDeadline)
	defer cancel()
	out, err := c.Remove(ctx, os.Getenv(childOrgEnv), key)
	if err == nil && out != deleteorgapikey.Removed {
		err = fmt.Errorf("remove %s: %v", key, out)
	}
	return err
}

// runProcesses adds n keys to srv and removes each in its own child
// process, conc at a time, as the owner's service account, sharing a
// FileTokenStore in storeDir unless it is "". It returns how many
// processes failed and the first one's error and output.
func runProcesses(tb testing.TB, srv *atlastest.Server, n, conc int, storeDir string) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = srv.AddKey()
	}
	o := srv.Owner()
	// GORACE: a -race child would otherwise sleep 1 s at exit.
	env := append(os.Environ(), "MONGODB_ATLAS_OPS_MANAGER_URL="+srv.URL, "MONGODB_ATLAS_CLIENT_ID="+o.ClientID,
		"MONGODB_ATLAS_CLIENT_SECRET="+o.ClientSecret, childOrgEnv+"="+srv.OrgID(), childStoreEnv+"="+storeDir,
		"GORACE=atexit_sleep_ms=0")
	return deleteAll(n, conc, func(i int) error {
		cmd := exec.Command(exe)
		cmd.Env = append(env[:len(env):len(env)], childKeyEnv+"="+keys[i])
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("process for key %s: %w: %s", keys[i], err, out)
		}
		return nil
	})
}

// TestProcesses checks the machinery of figures 6 and 7 with two
// processes sharing a store: both remove their key, one token is minted.
func TestProcesses(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	if failed, err := runProcesses(t, srv, 2, 1, t.TempDir()); failed > 0 {
		t.Fatalf("%d processes failed, first: %v", failed, err)
	}
	if got := srv.CountRequests(isToken); got != 1 {
		t.Errorf("token requests: got %d, want 1", got)
	}
}

// benchProcesses runs procs processes per op (runProcesses, conc at a time)
// on a new server made with opts, with a new file store (store=file) and
// without (store=none), and reports the server's token requests
// (tokens/run) and the processes that failed (failed/run) per op; ns/op is
// the wall time of the op's processes.
func benchProcesses(b *testing.B, procs, conc int, opts ...atlastest.Option) {
	for _, store := range []string{"none", "file"} {
		b.Run("store="+store, func(b *testing.B) {
			tokens, failed := 0, 0
			for range b.N {
				b.StopTimer()
				srv := atlastest.NewTestServer(b, opts...)
				dir := ""
				if store == "file" {
					dir = b.TempDir()
				}
				b.StartTimer()
				n, err := runProcesses(b, srv, procs, conc, dir)
				if n > 0 {
					b.Logf("%d of %d processes failed, first: %v", n, procs, err)
				}
				failed += n
				tokens += srv.CountRequests(isToken)
			}
			b.ReportMetric(float64(tokens)/float64(b.N), "tokens/run")
			b.ReportMetric(float64(failed)/float64(b.N), "failed/run")
		})
	}
}

// BenchmarkTokensAcrossProcesses (figure 6): 100 processes one after the
// other, each a new service-account client removing one key; the token
// limit is lifted so that only tokens are counted. Run it with
// -benchtime 1x.
func BenchmarkTokensAcrossProcesses(b *testing.B) {
	benchProcesses(b, 100, 1, atlastest.WithTokenRateLimit(1<<20, time.Minute))
}

// BenchmarkProcessesAtTokenLimit (figure 7): 60 processes, 4 at a time,
// against atlastest's default token limit (Atlas's 50 a minute per client,
// refilled evenly). A child that gets the token endpoint's 429 waits its
// Retry-After when childDeadline leaves room, and fails otherwise. Run it
// with -benchtime 1x.
func BenchmarkProcessesAtTokenLimit(b *testing.B) {
	benchProcesses(b, 60, 4)
}

// Bulk removal (figures 8 and 9): an organization bucket small enough to
// dominate the run, as atlastest.WithRateLimit(bulkBudget, bulkBudget,
// time.Second) and the Remover's budget alike, and the Remover's
// concurrency for the plain Remove calls too.
const (
	bulkBudget = 100 // requests the bucket holds, and regains a second
	bulkConc   = 4
)

// bulkRun is what one bulk removal did, as the caller and the server saw it.
type bulkRun struct {
	wall    time.Duration
	results int   // results returned (plain Remove: one per id)
	failed  int   // results other than Removed
	first   error // the first failure's error
	deletes int   // operation requests at the server, retries included
	tooMany int   // of them answered 429
}

// runBulk adds keys keys to a new server with the bulk bucket and removes
// them as the owner's service account, the first dups of them listed
// twice: all at once with a Remover (paced), or with one plain
// Client.Remove per id at the same concurrency.
func runBulk(tb testing.TB, paced bool, keys, dups int) bulkRun {
	srv := atlastest.NewTestServer(tb, atlastest.WithRateLimit(bulkBudget, bulkBudget, time.Second))
	ids := make([]string, keys)
	for i := range ids {
		ids[i] = srv.AddKey()
	}
	ids = append(ids, ids[:dups]...)
	c := newClient(tb, srv.URL, srv.Owner().ServiceAccount(), newTransport(tb, bulkConc))
	ctx, org := context.Background(), srv.OrgID()
	var results []deleteorgapikey.Result
	start := time.Now()
	if paced {
		r := &deleteorgapikey.Remover{Client: c, Concurrency: bulkConc, Capacity: bulkBudget, Refill: bulkBudget, Period: time.Second}
		results = r.RemoveAll(ctx, org, ids)
	} else {
		results = make([]deleteorgapikey.Result, len(ids))
		deleteAll(len(ids), bulkConc, func(i int) error {
			o, err := c.Remove(ctx, org, ids[i])
			results[i] = deleteorgapikey.Result{KeyID: ids[i], Outcome: o, Err: err}
			return nil
		})
	}
	run := bulkRun{wall: time.Since(start), results: len(results)}
	for _, res := range results {
		if res.Outcome != deleteorgapikey.Removed {
			if run.failed++; run.first == nil {
				run.first = fmt.Errorf("%s: %v: %w", res.KeyID, res.Outcome, res.Err)
			}
		}
	}
	run.deletes = srv.CountRequests(isOperation)
	run.tooMany = srv.CountRequests(func(r atlastest.Request) bool { return isOperation(r) && r.Status == http.StatusTooManyRequests })
	return run
}

// TestBulk checks the machinery of figures 8 and 9 at a scale at which the
// bucket never runs short: every key removed once, one result per distinct
// id, no 429.
func TestBulk(t *testing.T) {
	for _, c := range []struct {
		paced bool
		dups  int
	}{{false, 0}, {true, 3}} {
		run := runBulk(t, c.paced, 10, c.dups)
		if run.results != 10 || run.failed > 0 || run.deletes != 10 || run.tooMany > 0 {
			t.Errorf("paced=%v with %d duplicates: %+v, want 10 results, 10 deletes, none failed, no 429", c.paced, c.dups, run)
		}
	}
}

// benchBulk reports runBulk's figures per run: 429s received, deletes sent
// (retries included) and retries, results returned and those not Removed,
// and the wall time (ns/op, the server's set-up left out) also divided by
// the bucket's theoretical minimum for the keys: all but the first
// bulkBudget of them wait for the refill, (keys-bulkBudget)/bulkBudget s.
func benchBulk(b *testing.B, paced bool, keys, dups int) {
	var sum bulkRun
	for range b.N {
		run := runBulk(b, paced, keys, dups)
		if run.failed > 0 {
			b.Logf("%d of %d keys not removed, first: %v", run.failed, keys, run.first)
		}
		sum.wall += run.wall
		sum.results += run.results
		sum.failed += run.failed
		sum.deletes += run.deletes
		sum.tooMany += run.tooMany
	}
	n := float64(b.N)
	minimum := time.Duration(keys-bulkBudget) * time.Second / bulkBudget
	b.ReportMetric(float64(sum.wall.Nanoseconds())/n, "ns/op")
	b.ReportMetric(sum.wall.Seconds()/n/minimum.Seconds(), "ratio-to-min")
	b.ReportMetric(float64(sum.tooMany)/n, "429s/run")
	b.ReportMetric(float64(sum.deletes)/n, "deletes/run")
	b.ReportMetric(float64(sum.deletes-b.N*keys)/n, "retries/run")
	b.ReportMetric(float64(sum.results)/n, "results/run")
	b.ReportMetric(float64(sum.failed)/n, "failed/run")
}

// BenchmarkBulkRemoval (figure 8): 1,000 keys removed at concurrency
// bulkConc against a bucket of 100 that regains 100 a second, by a Remover
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
