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
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// FileTokenStore shares service-account tokens across processes (Linux,
// macOS, BSD). <key>.json, 0600, holds a token, never the secret:
// it lets its reader act as the account for an hour. Atomic writes, flock;
// rejected and revoked tokens are deleted; Clear or rm -r deletes all.
type FileTokenStore struct{ dir string }

// NewFileTokenStore opens dir ("": under os.UserCacheDir), ours, made 0700.
func NewFileTokenStore(dir string) (*FileTokenStore, error) {
	if err := flockSupported(); err != nil {
		return nil, err
	}
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("authedit: token store: %w", err)
		}
		dir = filepath.Join(cache, "atlascontract-deleteorgapikey", "tokens")
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

// Clear deletes every token.
func (s *FileTokenStore) Clear() error {
	// Lock files stay: deleting one that a process holds would let the next
	// one lock a new file and mint beside it.
	ents, err := os.ReadDir(s.dir)
	for _, e := range ents {
		if n := e.Name(); err == nil && (strings.HasSuffix(n, ".json") || strings.Contains(n, ".json.tmp-")) {
			err = removeFile(filepath.Join(s.dir, n))
		}
	}
	return wrapStore(err)
}

// checkDir refuses a directory of someone else and tightens a wider one.
func (s *FileTokenStore) checkDir() error {
	fi, err := os.Stat(s.dir)
	switch {
	case err != nil:
		return wrapStore(err)
	case !fi.IsDir() || !ownedByUs(fi):
		return fmt.Errorf("authedit: token store %s is not a directory of this user: %w", s.dir, fs.ErrPermission)
	case fi.Mode().Perm()&0o077 != 0:
		return wrapStore(os.Chmod(s.dir, 0o700))
	}
	return nil
}

func (s *FileTokenStore) path(key, suffix string) string { return filepath.Join(s.dir, key+suffix) }

// storeKey names a service account's token in a store.
func storeKey(tokenURL, clientID, secret string) string {
	sum := sha256.Sum256([]byte(tokenURL + "\x00" + clientID + "\x00" + secret))
	return hex.EncodeToString(sum[:])
}

func (s *FileTokenStore) lock(ctx context.Context, key string) (unlock func(), err error) {
	if s == nil || s.dir == "" {
		return nil, errors.New("authedit: FileTokenStore not made by NewFileTokenStore")
	}
	return lockFile(ctx, s.path(key, ".lock"))
}

type fileEntry struct {
	AccessToken string    `json:"access_token"`
	Expiry      time.Time `json:"expiry"`
}

// load reads key's token, deleting an entry not a regular 0600 file of ours.
func (s *FileTokenStore) load(key string) (*oauth2.Token, bool) {
	p := s.path(key, ".json")
	f, err := openNoFollow(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	var e fileEntry
	if err == nil {
		defer f.Close()
		fi, serr := f.Stat()
		if serr != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 || !ownedByUs(fi) ||
			json.NewDecoder(io.LimitReader(f, 64<<10)).Decode(&e) != nil || e.AccessToken == "" {
			err = errors.New("untrusted")
		}
	}
	if err != nil {
		_ = removeFile(p)
		return nil, false
	}
	return &oauth2.Token{AccessToken: e.AccessToken, TokenType: "Bearer", Expiry: e.Expiry}, true
}

// save writes key's token to a synced 0600 temporary file renamed over the entry.
func (s *FileTokenStore) save(key string, tok *oauth2.Token) error {
	if err := s.checkDir(); err != nil {
		return err
	}
	data, _ := json.Marshal(fileEntry{AccessToken: tok.AccessToken, Expiry: tok.Expiry.UTC()})
	p := s.path(key, ".json")
	f, err := os.CreateTemp(s.dir, filepath.Base(p)+".tmp-*") // created 0600
	if err != nil {
		return wrapStore(err)
	}
	_, err = f.Write(data)
	if err = errors.Join(err, f.Sync(), f.Close()); err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return wrapStore(err)
}

func (s *FileTokenStore) remove(key string) { _ = removeFile(s.path(key, ".json")) }

func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func wrapStore(err error) error {
	if err != nil {
		return fmt.Errorf("authedit: token store: %w", err)
	}
	return nil
}
