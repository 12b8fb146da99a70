package authedit_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Child mode: the test binary run with storeChildEnv=1 is one process of a
// cross-process test, as a CI job would be: it builds a client from the
// Atlas CLI's variables (with a FileTokenStore in AUTHEDIT_CHILD_STORE, if
// set), prints "ready", waits for its stdin to close, deletes one key and
// exits 0 on a 204.
const storeChildEnv = "AUTHEDIT_TOKEN_STORE_CHILD"

func init() {
	if os.Getenv(storeChildEnv) == "1" {
		os.Exit(storeChild())
	}
}

func storeChild() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	var opts []authedit.Option
	if dir := os.Getenv("AUTHEDIT_CHILD_STORE"); dir != "" {
		s, err := authedit.NewFileTokenStore(dir)
		if err != nil {
			return fail(err)
		}
		opts = append(opts, authedit.WithTokenStore(s))
	}
	creds, err := authedit.CredentialsFromEnv(os.LookupEnv)
	if err != nil {
		return fail(err)
	}
	c, err := authedit.NewClient(authedit.BaseURLFromEnv(os.LookupEnv), creds, opts...)
	if err != nil {
		return fail(err)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	resp, err := c.DeleteOrgApiKeyWithResponse(context.Background(), os.Getenv("AUTHEDIT_CHILD_ORG"), os.Getenv("AUTHEDIT_CHILD_KEY"), nil)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode() != http.StatusNoContent {
		return fail(fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body))
	}
	return 0
}

// runChildren runs one child process per key against srv, sharing the
// store in dir ("" for none): one after another, or all released at once
// after every one has built its client.
func runChildren(t *testing.T, srv *atlastest.Server, keys []string, dir string, together bool) {
	t.Helper()
	sa := srv.Owner().ServiceAccount()
	// A race-enabled binary sleeps a second when it exits 0 (GORACE's
	// atexit_sleep_ms); the children have no goroutines left to wait for.
	env := append(os.Environ(), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0", storeChildEnv+"=1",
		envBaseURL+"="+srv.URL, envClientID+"="+sa.ClientID,
		envClientSecret+"="+string(sa.ClientSecret), "AUTHEDIT_CHILD_ORG="+srv.OrgID(),
		"AUTHEDIT_CHILD_STORE="+dir)
	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stderr bytes.Buffer
	}
	start := func(key string) *child {
		ch := &child{cmd: exec.Command(os.Args[0], "-test.run=^$")}
		ch.cmd.Env = append(slices.Clip(env), "AUTHEDIT_CHILD_KEY="+key)
		ch.cmd.Stderr = &ch.stderr
		var err error
		if ch.stdin, err = ch.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		out, err := ch.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ch.stdin.Close() }) // a test that fails early releases the rest
		if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
			_ = ch.cmd.Wait()
			t.Fatalf("child for %s: %q, %v; stderr: %s", key, line, err, &ch.stderr)
		}
		return ch
	}
	wait := func(ch *child) {
		if err := ch.cmd.Wait(); err != nil {
			t.Errorf("child: %v; stderr: %s", err, &ch.stderr)
		}
	}
	var all []*child
	for _, k := range keys {
		ch := start(k)
		if together {
			all = append(all, ch)
			continue
		}
		_ = ch.stdin.Close()
		wait(ch)
	}
	for _, ch := range all { // every child is ready: release them at once
		_ = ch.stdin.Close()
	}
	for _, ch := range all {
		wait(ch)
	}
}

func TestTokenStoreAcrossProcesses(t *testing.T) {
	const n = 5
	deleted := func(r atlastest.Request) bool { return isOperation(r) && r.Status == http.StatusNoContent }
	for _, tc := range []struct {
		name          string
		store         bool
		together      bool
		procs, minted int
	}{
		{"sequential with store", true, false, n, 1},
		{"sequential without store", false, false, n, n},
		{"together with store", true, true, n + 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := atlastest.NewTestServer(t, atlastest.WithSeedKeys(tc.procs))
			dir := ""
			if tc.store {
				dir = filepath.Join(t.TempDir(), "tokens")
			}
			runChildren(t, srv, srv.Keys()[:tc.procs], dir, tc.together)
			if got := srv.CountRequests(deleted); got != tc.procs {
				t.Errorf("%d processes deleted %d keys", tc.procs, got)
			}
			if got := srv.CountRequests(isToken); got != tc.minted {
				t.Errorf("%d processes made %d token requests, want %d", tc.procs, got, tc.minted)
			}
			if tc.store {
				checkStoreFiles(t, dir, srv.Owner().ServiceAccount(), 1)
			}
		})
	}
}

// checkStoreFiles asserts what is on disk: a 0700 directory of 0600 files,
// entries valid JSON holding exactly an access token and a future expiry,
// and neither the secret nor the client id in any file.
func checkStoreFiles(t *testing.T, dir string, sa authedit.ServiceAccount, entries int) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("store directory mode %v, want 0700", fi.Mode().Perm())
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		p := filepath.Join(dir, f.Name())
		info, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want a regular 0600 file", f.Name(), info.Mode())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(sa.ClientSecret)) || bytes.Contains(data, []byte(sa.ClientID)) {
			t.Errorf("%s holds the client secret or id: %s", f.Name(), data)
		}
		if !strings.HasSuffix(f.Name(), ".json") {
			continue
		}
		n++
		var e map[string]any
		if err := json.Unmarshal(data, &e); err != nil {
			t.Errorf("%s is not JSON: %v: %q", f.Name(), err, data)
			continue
		}
		exp, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(e["expiry"]))
		if tok, _ := e["access_token"].(string); len(e) != 2 || tok == "" || !exp.After(time.Now()) {
			t.Errorf("%s = %s, want exactly an access token and a future expiry", f.Name(), data)
		}
	}
	if n != entries {
		t.Errorf("%d entries in %v, want %d", n, files, entries)
	}
}

func newFileStore(t *testing.T, dir string) *authedit.FileTokenStore {
	t.Helper()
	s, err := authedit.NewFileTokenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storedToken is the access token the store holds for s's account, "" if none.
func storedToken(t *testing.T, store *authedit.FileTokenStore, s *tokenServer) string {
	t.Helper()
	return store.Load(docKey(s.URL+contract.TokenPath(), s.ID))
}

// docKey is the key TokenStore documents: SHA-256 hex of the token URL, a
// NUL byte and the client id.
func docKey(tokenURL, clientID string) string {
	sum := sha256.Sum256([]byte(tokenURL + "\x00" + clientID))
	return hex.EncodeToString(sum[:])
}

func TestTokenStoreDropsRejectedToken(t *testing.T) {
	var reject atomic.Bool
	s := newTokenServer(t, func(s *tokenServer) {
		s.API = func(auth string) int {
			if reject.Load() && auth == "Bearer tok-1" {
				return http.StatusUnauthorized
			}
			return http.StatusNoContent
		}
	})
	store := newFileStore(t, t.TempDir())
	deleteOK(t, saClient(t, s, authedit.WithTokenStore(store)), orgID, keyID)
	if got := storedToken(t, store, s); got != "tok-1" {
		t.Fatalf("stored %q after the first client, want tok-1", got)
	}
	reject.Store(true) // the API no longer accepts tok-1
	deleteOK(t, saClient(t, s, authedit.WithTokenStore(store)), orgID, keyID)
	if want := []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-2"}; !slices.Equal(s.authSeen(), want) {
		t.Errorf("Authorization sent %q, want %q", s.authSeen(), want)
	}
	if got := storedToken(t, store, s); got != "tok-2" {
		t.Errorf("stored %q after tok-1 was rejected, want tok-2", got)
	}
	if got := s.tokens.Load(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
}

func TestTokenStoreDropsRevokedToken(t *testing.T) {
	s := newTokenServer(t, nil)
	store := newFileStore(t, t.TempDir())
	c := saClient(t, s, authedit.WithTokenStore(store))
	deleteOK(t, c, orgID, keyID)
	if err := c.Revoke(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := s.revokedTokens(); !slices.Equal(got, []string{"tok-1"}) {
		t.Errorf("revoked %q, want tok-1", got)
	}
	if got := storedToken(t, store, s); got != "" {
		t.Errorf("store still holds %q after Revoke", got)
	}
	deleteOK(t, saClient(t, s, authedit.WithTokenStore(store)), orgID, keyID)
	if got := storedToken(t, store, s); got != "tok-2" || s.tokens.Load() != 2 {
		t.Errorf("after Revoke a new client stored %q with %d token requests, want tok-2 with 2", got, s.tokens.Load())
	}
}

func TestTokenStoreIgnoresExpiringEntry(t *testing.T) {
	for _, tc := range []struct {
		left time.Duration // before the stored token expires
		want string        // Authorization the API sees
	}{
		{-time.Minute, "Bearer tok-1"},
		{30 * time.Second, "Bearer tok-1"}, // within the cache's one-minute margin
		{time.Hour, "Bearer stored"},
	} {
		t.Run(tc.left.String(), func(t *testing.T) {
			s := newTokenServer(t, func(s *tokenServer) { s.API = func(string) int { return http.StatusNoContent } })
			store := newFileStore(t, t.TempDir())
			key := docKey(s.URL+contract.TokenPath(), s.ID)
			if err := store.Save(key, "stored", time.Now().Add(tc.left)); err != nil {
				t.Fatal(err)
			}
			deleteOK(t, saClient(t, s, authedit.WithTokenStore(store)), orgID, keyID)
			if got := s.authSeen(); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("Authorization sent %q, want %q", got, tc.want)
			}
		})
	}
}

// A store that fails every operation (its directory is gone), or a zero
// one, does not fail the call: the client mints as if it had none.
func TestTokenStoreFailureDoesNotFailCall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	gone := newFileStore(t, dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := gone.Save(docKey("u", "a"), "t", time.Now().Add(time.Hour)); err == nil {
		t.Fatal("Save into a removed directory succeeded")
	}
	for _, store := range []*authedit.FileTokenStore{gone, new(authedit.FileTokenStore)} {
		s := newTokenServer(t, nil)
		deleteOK(t, saClient(t, s, authedit.WithTokenStore(store)), orgID, keyID)
		if got := s.tokens.Load(); got != 1 {
			t.Errorf("token requests = %d, want 1", got)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed store's directory was made again: %v", err)
	}
}

func TestFileTokenStorePermissions(t *testing.T) {
	ctx := t.Context()
	key := docKey("https://cloud.mongodb.com/api/oauth/token", "id")
	t.Run("created 0700", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b")
		newFileStore(t, dir)
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("new store directory: %v, %v; want 0700", fi.Mode(), err)
		}
	})
	t.Run("wider directory tightened", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := newFileStore(t, dir)
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
			t.Errorf("at construction: mode %v, want 0700", fi.Mode().Perm())
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(key, "t", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
			t.Errorf("after Save: mode %v, want 0700", fi.Mode().Perm())
		}
	})
	t.Run("directory of another user refused", func(t *testing.T) {
		dir := "/" // not ours unless we are root; then a directory given away
		if os.Geteuid() == 0 {
			dir = t.TempDir()
			if err := os.Chown(dir, 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}
		before, _ := os.Stat(dir)
		if _, err := authedit.NewFileTokenStore(dir); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("NewFileTokenStore(%s) = %v, want fs.ErrPermission", dir, err)
		}
		if after, _ := os.Stat(dir); after.Mode() != before.Mode() {
			t.Errorf("refused directory changed mode: %v -> %v", before.Mode(), after.Mode())
		}
	})
	t.Run("untrusted entries refused and deleted", func(t *testing.T) {
		for name, spoil := range map[string]func(t *testing.T, p string){
			"mode 0644": func(t *testing.T, p string) {
				if err := os.Chmod(p, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			"symlink": func(t *testing.T, p string) {
				other := filepath.Join(t.TempDir(), "elsewhere.json")
				if err := os.Rename(p, other); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(other, p); err != nil {
					t.Fatal(err)
				}
			},
			"not JSON": func(t *testing.T, p string) {
				if err := os.WriteFile(p, []byte(`{"access_token":`), 0o600); err != nil {
					t.Fatal(err)
				}
			},
		} {
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				s := newFileStore(t, dir)
				if err := s.Save(key, "t", time.Now().Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, key+".json")
				spoil(t, p)
				if tok := s.Load(key); tok != "" {
					t.Errorf("Load = %q, want nothing", tok)
				}
				if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("untrusted entry left in place: %v", err)
				}
			})
		}
	})
	t.Run("zero value refused", func(t *testing.T) {
		if err := new(authedit.FileTokenStore).Save(key, "t", time.Time{}); err == nil {
			t.Error("Save on a zero FileTokenStore succeeded")
		}
		if _, err := new(authedit.FileTokenStore).Lock(ctx, key); err == nil {
			t.Error("Lock on a zero FileTokenStore succeeded")
		}
	})
}

func TestFileTokenStoreClearAndDefaultDir(t *testing.T) {
	ctx := t.Context()
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", home) // os.UserCacheDir on Linux and the BSDs
	t.Setenv("HOME", home)           // on macOS
	s := newFileStore(t, "")
	if !strings.HasPrefix(s.Dir(), home) || !strings.HasSuffix(s.Dir(), filepath.FromSlash("atlascontract-deleteorgapikey/tokens")) {
		t.Errorf("default Dir() = %s, want under %s", s.Dir(), home)
	}
	keys := []string{docKey("u", "a"), docKey("u", "b")}
	for _, k := range keys {
		unlock, err := s.Lock(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(k, "t", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		unlock()
	}
	if err := s.Clear(); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if tok := s.Load(k); tok != "" {
			t.Errorf("Load(%s) after Clear: %q", k, tok)
		}
	}
	ents, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("Clear left %s", e.Name())
		}
	}
}

func TestFileTokenStoreLockWaitEndsWithContext(t *testing.T) {
	s := newFileStore(t, t.TempDir())
	key := docKey("u", "a")
	unlock, err := s.Lock(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Lock(ctx, key); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock of a held key with an ended context = %v, want context.Canceled", err)
	}
	unlock()
	unlock2, err := s.Lock(ctx, key) // free again: taken at once, even with an ended context
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
}

// atlasTokenLimit answers the first n token requests as Atlas does over its
// limit (429 RATE_LIMITED, body from the Terraform provider's docs) with
// Retry-After: retryAfter, counting them in limited.
func atlasTokenLimit(n int32, retryAfter string, limited *atomic.Int32) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != contract.TokenPath() || limited.Add(1) > n {
				h.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"detail":"Resource /api/oauth/token is limited to 50 requests every 1 minutes.","error":429,"errorCode":"RATE_LIMITED","parameters":["/api/oauth/token",50,1],"reason":"Too Many Requests"}`)
		})
	}
}

// A token endpoint's 429 is waited for, Retry-After plus at most the
// policy's jitter (MinBackoff, 250 ms), on a synctest bubble's clock.
func TestTokenEndpoint429WaitsWithinDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var limited atomic.Int32
		s := newTokenServer(t, func(s *tokenServer) { s.Pipe = true }, atlasTokenLimit(1, "7", &limited))
		c := saClient(t, s)
		start := time.Now()
		deleteOK(t, c, orgID, keyID)
		elapsed := time.Since(start)
		if limited.Load() != 2 || s.tokens.Load() != 1 {
			t.Errorf("token requests = %d, of which %d answered 200; want a 429 then a 200", limited.Load(), s.tokens.Load())
		}
		if elapsed < 7*time.Second || elapsed > 7*time.Second+authedit.DefaultRetryPolicy.MinBackoff {
			t.Errorf("took %v, want the 7 s of Retry-After plus at most the jitter", elapsed)
		}
	})
}

// A 429 whose Retry-After cannot be waited for is returned at once, typed;
// until it has passed no token request is made. In a synctest bubble the
// round trips take no time, so the deadlines are no timing bets.
func TestTokenEndpoint429PastDeadlineIsTyped(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		timeout    time.Duration // of the caller's context
		opts       []authedit.Option
	}{
		{"past the deadline", "7", 5 * time.Second, nil},
		{"past MaxRetryAfter", "60", time.Hour, nil},
		{"retries off", "7", time.Hour, []authedit.Option{authedit.WithoutRetry()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var limited atomic.Int32
				s := newTokenServer(t, func(s *tokenServer) { s.Pipe = true }, atlasTokenLimit(100, tc.retryAfter, &limited))
				c := saClient(t, s, append([]authedit.Option{authedit.WithTimeout(0)}, tc.opts...)...)
				ra, _ := time.ParseDuration(tc.retryAfter + "s")
				start := time.Now()
				for call := range 2 { // the second call makes no request before Retry-After
					ctx, cancel := context.WithTimeout(t.Context(), tc.timeout)
					_, err := c.DeleteOrgApiKeyWithResponse(ctx, orgID, keyID, nil)
					cancel()
					var te *authedit.TokenError
					if !errors.As(err, &te) || te.StatusCode != http.StatusTooManyRequests || te.RetryAfter <= 0 || te.RetryAfter > ra || !errors.Is(err, authedit.ErrRateLimited) {
						t.Fatalf("call %d: %v (%+v), want a *TokenError 429 with RetryAfter in (0, %v] matching ErrRateLimited", call, err, te, ra)
					}
					if call == 0 && te.RetryAfter != ra {
						t.Errorf("RetryAfter = %v, want %v as sent", te.RetryAfter, ra)
					}
					if strings.Contains(err.Error(), s.Secret) || !strings.Contains(err.Error(), "RATE_LIMITED") || !strings.Contains(err.Error(), "retry after") {
						t.Errorf("error text %q: want the errorCode and when to retry, and no secret", err)
					}
				}
				if got := limited.Load(); got != 1 {
					t.Errorf("token requests = %d, want 1: none before Retry-After has passed", got)
				}
				if d := time.Since(start); d != 0 {
					t.Errorf("took %v, waiting for a Retry-After that could not be honoured", d)
				}
			})
		})
	}
}

func TestErrRateLimitedOnlyFor429(t *testing.T) {
	for code, want := range map[int]bool{429: true, 401: false, 503: false, 0: false} {
		if got := errors.Is(&authedit.TokenError{Op: "token", StatusCode: code}, authedit.ErrRateLimited); got != want {
			t.Errorf("TokenError %d matches ErrRateLimited: %v, want %v", code, got, want)
		}
	}
}
