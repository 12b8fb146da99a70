package authedit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// TokenStore keeps service-account access tokens between processes, so that
// processes using one client id share a token instead of each minting one:
// Atlas allows a client 50 token requests a minute per IP address
// (reported: the Terraform provider's docs quote its 429).
//
// Before minting a token the client calls Lock, then Load; it uses a loaded
// token unless it expires within a minute (or is the one the API just
// rejected), and otherwise mints one and Saves it before unlocking. Holding
// the lock across "load, or mint and save" is what makes processes that
// start together mint one token, not one each. A token the API rejects
// (401) is deleted before a new one is fetched, and Client.Revoke deletes
// the token it revoked. A store that fails (other than by the context
// ending) does not fail the call: the client mints as if it had no store.
//
// key is opaque to the store: the hex SHA-256 of the token URL, a NUL
// byte and the client id, so one store can serve several accounts and
// Atlas hosts.
type TokenStore interface {
	// Lock waits until the caller holds key's lock, or ctx ends. The
	// caller calls unlock once. A store may make it a no-op if processes
	// minting a token each is acceptable.
	Lock(ctx context.Context, key string) (unlock func(), err error)
	// Load returns key's token; ok is false when there is none.
	Load(ctx context.Context, key string) (tok StoredToken, ok bool, err error)
	// Save replaces key's token.
	Save(ctx context.Context, key string, tok StoredToken) error
	// Delete removes key's token; deleting an absent one is no error.
	Delete(ctx context.Context, key string) error
}

// StoredToken is what a TokenStore keeps: an access token and its expiry.
// No client secret is ever given to a store.
type StoredToken struct {
	AccessToken Secret // a Bearer token: whoever holds it can call the API as the account until Expiry
	Expiry      time.Time
}

// WithTokenStore makes service-account clients reuse tokens through s
// (see TokenStore and FileTokenStore). Digest credentials ignore it. By
// default no store is used and each client mints its own token.
func WithTokenStore(s TokenStore) Option { return func(c *config) { c.tokenStore = s } }

// After a 429 from the token endpoint (a *TokenError matching
// ErrRateLimited) a client makes no token request before its Retry-After
// has passed. A retried call (RetryPolicy) waits for it when it is at most
// MaxRetryAfter and the call's deadline leaves room; otherwise the call
// fails at once with the 429 *TokenError, RetryAfter holding the time left.

// ErrUnsafeTokenStore is returned (wrapped) for a FileTokenStore directory
// that is not a directory owned by the current user.
var ErrUnsafeTokenStore = errors.New("authedit: token store directory is not a directory owned by this user")

// FileTokenStore is a TokenStore in a directory, one file per key.
//
// On disk: "<key>.json" holds {"access_token": ..., "expiry": ...} and
// nothing else (no client id, no secret); "<key>.lock" is an empty file
// whose flock(2) serialises processes; "<key>.json.tmp-*" exist only while
// an entry is written (written in full, fsynced, then renamed over the
// entry, so a reader sees the old entry or the new one, never a part).
//
// Who can read it: the directory is 0700 and every file 0600, so only the
// user (and root). NewFileTokenStore tightens a directory with wider
// permissions to 0700 and refuses one owned by another user; Load refuses
// (and deletes) an entry that is not a regular 0600 file owned by the user.
// An access token lets its holder call the API as the service account for
// up to an hour without knowing the secret; that is the point of sharing
// it, and why the store must stay private. A process with a wrong secret
// is served a stored token until it expires.
//
// To clear it: Clear, or delete the directory when no process is using it.
// The zero value is not usable: use NewFileTokenStore.
//
// Platforms: Linux, macOS and the BSDs (flock). Elsewhere NewFileTokenStore
// returns an error matching errors.ErrUnsupported.
type FileTokenStore struct {
	dir string
}

// tokenStoreDir is the default directory under os.UserCacheDir.
const tokenStoreDir = "atlascontract-deleteorgapikey/tokens"

// NewFileTokenStore returns a store in dir, created 0700 if missing; dir ""
// is the user's cache directory (os.UserCacheDir) joined with
// "atlascontract-deleteorgapikey/tokens". It fails with
// ErrUnsafeTokenStore for a directory owned by another user.
func NewFileTokenStore(dir string) (*FileTokenStore, error) {
	if err := flockSupported(); err != nil {
		return nil, err
	}
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("authedit: token store: %w", err)
		}
		dir = filepath.Join(cache, filepath.FromSlash(tokenStoreDir))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("authedit: token store: %w", err)
	}
	s := &FileTokenStore{dir: dir}
	if err := s.checkDir(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *FileTokenStore) Dir() string { return s.dir }

// checkDir refuses a directory owned by someone else and tightens one that
// others could read or enter.
func (s *FileTokenStore) checkDir() error {
	fi, err := os.Stat(s.dir)
	if err != nil {
		return fmt.Errorf("authedit: token store: %w", err)
	}
	if !fi.IsDir() || !ownedByUs(fi) {
		return fmt.Errorf("%w: %s", ErrUnsafeTokenStore, s.dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(s.dir, 0o700); err != nil {
			return fmt.Errorf("authedit: token store: %w", err)
		}
	}
	return nil
}

// path is the file of key with suffix, after checking that key is hex (as
// the client makes them), so a plain file name.
func (s *FileTokenStore) path(key, suffix string) (string, error) {
	if s.dir == "" {
		return "", errors.New("authedit: FileTokenStore not made by NewFileTokenStore")
	}
	if len(key) == 0 || len(key) > 128 || strings.TrimLeft(key, "0123456789abcdefABCDEF") != "" {
		return "", fmt.Errorf("authedit: token store key %q: want 1 to 128 hex digits", key)
	}
	return filepath.Join(s.dir, key+suffix), nil
}

// Lock takes an exclusive flock(2) on key's lock file, polling so that ctx
// can end the wait.
func (s *FileTokenStore) Lock(ctx context.Context, key string) (func(), error) {
	p, err := s.path(key, ".lock")
	if err != nil {
		return nil, err
	}
	return lockFile(ctx, p)
}

// fileEntry is the JSON of an entry.
type fileEntry struct {
	AccessToken string    `json:"access_token"`
	Expiry      time.Time `json:"expiry"`
}

// Load reads key's entry. An entry that is missing, unreadable as JSON, or
// not a regular 0600 file of this user is reported absent (and the last
// two are deleted).
func (s *FileTokenStore) Load(_ context.Context, key string) (StoredToken, bool, error) {
	p, err := s.path(key, ".json")
	if err != nil {
		return StoredToken{}, false, err
	}
	f, err := openNoFollow(p)
	if errors.Is(err, fs.ErrNotExist) {
		return StoredToken{}, false, nil
	}
	if err != nil { // a symlink among others
		return StoredToken{}, false, s.discard(p)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return StoredToken{}, false, fmt.Errorf("authedit: token store: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 || !ownedByUs(fi) {
		return StoredToken{}, false, s.discard(p)
	}
	var e fileEntry
	if err := json.NewDecoder(io.LimitReader(f, 64<<10)).Decode(&e); err != nil || e.AccessToken == "" {
		return StoredToken{}, false, s.discard(p)
	}
	return StoredToken{AccessToken: Secret(e.AccessToken), Expiry: e.Expiry}, true, nil
}

// discard deletes an entry that cannot be trusted or read; only a failed
// deletion is an error.
func (s *FileTokenStore) discard(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("authedit: token store: %w", err)
	}
	return nil
}

// Save writes key's entry atomically: a temporary 0600 file in the same
// directory, fsynced, then renamed over the entry.
func (s *FileTokenStore) Save(_ context.Context, key string, tok StoredToken) error {
	p, err := s.path(key, ".json")
	if err != nil {
		return err
	}
	if err := s.checkDir(); err != nil {
		return err
	}
	data, err := json.Marshal(fileEntry{AccessToken: string(tok.AccessToken), Expiry: tok.Expiry.UTC()})
	if err != nil {
		return fmt.Errorf("authedit: token store: %w", err)
	}
	f, err := os.CreateTemp(s.dir, filepath.Base(p)+".tmp-*") // created 0600
	if err != nil {
		return fmt.Errorf("authedit: token store: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("authedit: token store: %w", err)
	}
	return nil
}

// Delete removes key's entry.
func (s *FileTokenStore) Delete(_ context.Context, key string) error {
	p, err := s.path(key, ".json")
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("authedit: token store: %w", err)
	}
	return nil
}

// Clear deletes every entry (and leftover temporary file). Lock files stay:
// removing one while a process holds it would let the next process lock a
// new file and mint beside it.
func (s *FileTokenStore) Clear() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("authedit: token store: %w", err)
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".json") || strings.Contains(n, ".json.tmp-") {
			if err := os.Remove(filepath.Join(s.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("authedit: token store: %w", err)
			}
		}
	}
	return nil
}

// storeKey names a service account's tokens in a TokenStore.
func storeKey(tokenURL, clientID string) string {
	sum := sha256.Sum256([]byte(tokenURL + "\x00" + clientID))
	return hex.EncodeToString(sum[:])
}

// tokenFetcher is the token cache's fetch with a TokenStore in front of it
// and the token endpoint's Retry-After honoured. Its fields after the
// first five are used only under the cache's semaphore (fetch and revoke
// hold it), so they need no lock of their own.
type tokenFetcher struct {
	request func(context.Context) (*oauth2.Token, error) // one token request
	policy  RetryPolicy
	now     func() time.Time
	store   TokenStore // nil: none
	key     string

	handed  string      // the access token last handed to the cache
	limited time.Time   // no token request before this: a 429's Retry-After
	limit   *TokenError // that 429
}

// reuseTokens installs the tokenFetcher on t's token cache.
func (t *Transport) reuseTokens(tokenURL, clientID string) {
	c := t.tokens
	f := &tokenFetcher{
		request: c.fetch,
		policy:  t.cfg.retry,
		now:     func() time.Time { return c.now() },
		store:   t.cfg.tokenStore,
		key:     storeKey(tokenURL, clientID),
	}
	c.fetch = f.fetch
	if f.store == nil {
		return
	}
	revoke := c.revokeFn
	c.revokeFn = func(ctx context.Context, token string) error {
		if err := revoke(ctx, token); err != nil {
			return err
		}
		f.forget(ctx, token)
		return nil
	}
}

// fetch returns the stored token, or mints one and stores it, holding the
// store's lock throughout.
//
// The cache only asks again for a token it was handed when the API
// rejected it or it was revoked: it replaces tokens on expiry no earlier
// than this ignores them (a minute before). So a stored token equal to the
// one last handed out is a rejected one, and is deleted.
func (f *tokenFetcher) fetch(ctx context.Context) (*oauth2.Token, error) {
	if f.store == nil {
		return f.mint(ctx)
	}
	unlock, err := f.store.Lock(ctx, f.key)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return f.mint(ctx) // a broken store does not stop the client
	}
	defer unlock()
	if st, ok, err := f.store.Load(ctx, f.key); err == nil && ok {
		switch {
		case string(st.AccessToken) == f.handed:
			_ = f.store.Delete(ctx, f.key)
		case f.now().Before(st.Expiry.Add(-maxRefreshMargin)):
			f.handed = string(st.AccessToken)
			return &oauth2.Token{AccessToken: f.handed, TokenType: "Bearer", Expiry: st.Expiry}, nil
		}
	}
	tok, err := f.mint(ctx)
	if err != nil {
		return nil, err
	}
	f.handed = tok.AccessToken
	if !tok.Expiry.IsZero() { // a token of unknown lifetime is not shared
		_ = f.store.Save(ctx, f.key, StoredToken{AccessToken: Secret(tok.AccessToken), Expiry: tok.Expiry})
	}
	return tok, nil
}

// mint makes one token request, first waiting out the Retry-After of an
// earlier 429 if the policy allows it and ctx's deadline leaves room;
// otherwise it returns that 429 at once, with RetryAfter the time left,
// without a request. A 429 is returned to the caller, not retried here:
// the retry layer repeats the attempt, and the next mint waits.
func (f *tokenFetcher) mint(ctx context.Context) (*oauth2.Token, error) {
	if wait := f.limited.Sub(f.now()); f.limit != nil && wait > 0 {
		d := wait + rand.N(f.policy.MinBackoff)
		dl, hasDL := ctx.Deadline()
		if f.policy.MaxAttempts <= 1 || wait > f.policy.MaxRetryAfter || hasDL && time.Until(dl) < d {
			te := *f.limit
			te.RetryAfter = wait
			return nil, &te
		}
		if err := f.policy.Sleep(ctx, d); err != nil {
			return nil, err
		}
	}
	tok, err := f.request(ctx)
	f.limit = nil
	var te *TokenError
	if errors.As(err, &te) && te.StatusCode == http.StatusTooManyRequests && te.RetryAfter > 0 {
		f.limited, f.limit = f.now().Add(te.RetryAfter), te
	}
	return tok, err
}

// forget deletes a revoked token from the store if it is still there.
func (f *tokenFetcher) forget(ctx context.Context, token string) {
	unlock, err := f.store.Lock(ctx, f.key)
	if err != nil {
		return
	}
	defer unlock()
	if st, ok, err := f.store.Load(ctx, f.key); err == nil && ok && string(st.AccessToken) == token {
		_ = f.store.Delete(ctx, f.key)
	}
}
