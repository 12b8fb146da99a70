package authedit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// FileTokenStore shares service-account tokens across processes on Linux,
// macOS and the BSDs.
// Each account has one entry, <key>.json, a 0600 file that holds an access
// token and its expiry, never the client id or secret.
// The key is an HMAC-SHA256 of the token URL and client id keyed by the
// client secret, so two secrets never share an entry.
// An entry lets its reader act as the account until it expires, and the
// store keeps none longer than an hour and five minutes. A token whose
// answer gave no lifetime (no expires_in) is not stored at all.
// A flock on <key>.lock makes processes that start together mint one token.
// Rejected and revoked tokens are deleted; Clear, or rm -r, deletes all.
type FileTokenStore struct{ dir string }

const (
	// lockWait bounds the wait for another process's lock: past it, or
	// past half the time left to the caller, the caller goes without.
	lockWait = 2 * time.Second
	// maxStoreLife caps how long after saving a token the store keeps it.
	maxStoreLife = time.Hour + 5*time.Minute
)

// NewFileTokenStore opens the store in dir, creating it 0700 if need be.
// An empty dir means os.UserCacheDir()/atlascontract-deleteorgapikey/tokens.
// A relative path, given or from the environment, is refused.
// The directory must be this user's, not a symbolic link, and writable by
// no one else: an existing one that others can write is refused, never
// changed. Others may list it (t.TempDir's 0755 is fine): each entry is a
// 0600 file named by an HMAC, which tells them nothing.
// Every directory above it must be this user's or root's and writable by
// no one else, as ssh's StrictModes demands; root's sticky directories,
// such as /tmp, are the one exception.
func NewFileTokenStore(dir string) (*FileTokenStore, error) {
	if err := flockSupported(); err != nil {
		return nil, err
	}
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, wrapStore(err)
		}
		dir = filepath.Join(cache, "atlascontract-deleteorgapikey", "tokens")
	}
	if !filepath.IsAbs(dir) {
		return nil, refuse(dir, "not an absolute path")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, wrapStore(err)
	}
	dir, err := checkDir(dir)
	if err != nil {
		return nil, err
	}
	return &FileTokenStore{dir: dir}, nil
}

// checkDir refuses dir unless the rules NewFileTokenStore states hold, and
// returns it below its parent's real path.
func checkDir(dir string) (string, error) {
	if !filepath.IsAbs(dir) { // also the zero FileTokenStore's ""
		return "", refuse(dir, "not an absolute path")
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(dir))
	real := filepath.Join(parent, filepath.Base(dir))
	for p := real; err == nil; p = filepath.Dir(p) {
		var fi fs.FileInfo
		if fi, err = os.Lstat(p); err != nil {
			break
		}
		uid, mode := owner(fi), fi.Mode()
		ours := uid == os.Geteuid()
		if p == real && (!fi.IsDir() || !ours) ||
			!ours && uid != 0 || mode.Perm()&0o022 != 0 && (uid != 0 || mode&fs.ModeSticky == 0) {
			return "", refuse(p, "the store must be this user's, and it and the directories "+
				"above writable by this user or root only")
		}
		if p == filepath.Dir(p) {
			return real, nil
		}
	}
	return "", wrapStore(err)
}

func wrapStore(err error) error {
	if err != nil {
		return fmt.Errorf("authedit: token store: %w", err)
	}
	return nil
}

// refuse says why the store will not use p.
func refuse(p, why string) error {
	return fmt.Errorf("authedit: token store: %s: %s: %w", p, why, fs.ErrPermission)
}

// Clear deletes every entry.
// It deletes nothing whose name the store does not write, and no lock
// file: deleting one that a process holds would let the next process lock
// a new one and mint beside it.
func (s *FileTokenStore) Clear() error {
	ents, err := os.ReadDir(s.dir)
	for _, e := range ents {
		if key, ok := strings.CutSuffix(e.Name(), ".json"); err == nil && ok && isKey(key) {
			err = removeFile(filepath.Join(s.dir, e.Name()))
		}
	}
	return wrapStore(err)
}

func isKey(s string) bool { return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" }

func (s *FileTokenStore) path(key, suffix string) string { return filepath.Join(s.dir, key+suffix) }

// storeKey names an account's entry: the hex HMAC-SHA256, keyed by the
// client secret, of the token URL, a NUL byte and the client id.
func storeKey(tokenURL, clientID, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(tokenURL + "\x00" + clientID))
	return hex.EncodeToString(m.Sum(nil))
}

// lock takes key's lock, waiting at most lockWait and at most half the
// time left before ctx's deadline; unlock releases it.
func (s *FileTokenStore) lock(ctx context.Context, key string) (unlock func(), err error) {
	if _, err := checkDir(s.dir); err != nil {
		return nil, err
	}
	f, err := openTrusted(s.path(key, ".lock"), os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, err
	}
	wait := lockWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/2)
	}
	if err := flock(ctx, f, wait); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("authedit: token store: lock %s: %w", f.Name(), err)
	}
	return func() { _ = f.Close() }, nil // closing the file releases the lock
}

// openTrusted opens p without following a link or waiting, as opening a
// FIFO would, and refuses it unless it is a regular 0600 file of this user.
func openTrusted(p string, flag int) (*os.File, error) {
	f, err := os.OpenFile(p, flag|openFlags, 0o600)
	if err != nil {
		return nil, wrapStore(err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 ||
		owner(fi) != os.Geteuid() {
		_ = f.Close()
		return nil, refuse(p, "not a regular 0600 file of this user")
	}
	return f, nil
}

type fileEntry struct {
	AccessToken string    `json:"access_token"`
	Expiry      time.Time `json:"expiry"`
}

// load reads key's token, under key's lock. It deletes an entry that is
// not a regular file, is not trusted, or holds no token save would keep.
// It opens no FIFO or device.
func (s *FileTokenStore) load(key string) (*oauth2.Token, bool) {
	p := s.path(key, ".json")
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	var e fileEntry
	if err == nil && fi.Mode().IsRegular() {
		var f *os.File
		if f, err = openTrusted(p, os.O_RDONLY); err == nil {
			err = json.NewDecoder(io.LimitReader(f, 64<<10)).Decode(&e)
			_ = f.Close()
		}
	}
	if err != nil || !b64token(e.AccessToken) || e.Expiry.After(time.Now().Add(maxStoreLife)) {
		_ = removeFile(p)
		return nil, false
	}
	return &oauth2.Token{AccessToken: e.AccessToken, TokenType: "Bearer", Expiry: e.Expiry}, true
}

// b64token reports whether s is an RFC 6750 b64token, the only kind of
// token that a Bearer Authorization header can carry.
func b64token(s string) bool {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
	body := strings.TrimRight(s, "=")
	return body != "" && strings.Trim(body, chars) == ""
}

// save writes key's token, under key's lock, to a new 0600 entry, and
// keeps none past maxStoreLife. Its caller saves only a token that
// checkToken accepted and whose expiry is known.
func (s *FileTokenStore) save(key string, tok *oauth2.Token) error {
	if _, err := checkDir(s.dir); err != nil {
		return err
	}
	p := s.path(key, ".json")
	e := fileEntry{AccessToken: tok.AccessToken, Expiry: tok.Expiry.UTC()}
	if limit := time.Now().Add(maxStoreLife).UTC(); e.Expiry.After(limit) {
		e.Expiry = limit
	}
	data, _ := json.Marshal(e)
	_ = removeFile(p) // what O_EXCL creates is a file of this user
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|openFlags, 0o600)
	if err != nil {
		return wrapStore(err)
	}
	_, err = f.Write(data)
	return wrapStore(errors.Join(err, f.Close()))
}

// remove deletes key's entry, under key's lock.
func (s *FileTokenStore) remove(key string) { _ = removeFile(s.path(key, ".json")) }

func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
