//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package authedit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"
)

// Child mode: the test binary run with storeChildEnv set to a store
// directory is one process of TestFileTokenStoreAcrossProcesses. Under the
// lock of the key in storeChildKey it takes the stored token or, if there
// is none, saves one named after itself; it prints the token it ends with.
const storeChildEnv, storeChildKey = "AUTHEDIT_STORE_CHILD", "AUTHEDIT_STORE_CHILD_KEY"

func init() {
	if dir := os.Getenv(storeChildEnv); dir != "" {
		os.Exit(storeChild(dir, os.Getenv(storeChildKey)))
	}
}

func storeChild(dir, key string) int {
	s, err := NewFileTokenStore(dir)
	var unlock func()
	if err == nil {
		unlock, err = s.lock(context.Background(), key)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer unlock()
	tok, ok := s.load(key)
	if !ok {
		tok = &oauth2.Token{AccessToken: fmt.Sprint("pid-", os.Getpid())} // save caps its life
		err = s.save(key, tok)
	}
	fmt.Println(tok.AccessToken, err)
	return 0
}

// Five processes started together share one token: one mints, the rest
// find it. They leave one entry and its lock, holding neither the client
// id nor the secret.
func TestFileTokenStoreAcrossProcesses(t *testing.T) {
	const id, secret = "mdb_sa_id_0123", "mdb_sa_sk_secret"
	dir, key := filepath.Join(t.TempDir(), "tokens"), storeKey("https://u/token", id, secret)
	var children []*exec.Cmd
	for range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		// A race-enabled binary sleeps a second when it exits 0 (GORACE's
		// atexit_sleep_ms); the children have no goroutines left to wait for.
		cmd.Env = append(os.Environ(), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0",
			storeChildEnv+"="+dir, storeChildKey+"="+key)
		cmd.Stdout, cmd.Stderr = new(strings.Builder), new(strings.Builder)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children = append(children, cmd)
	}
	tokens := map[string]int{}
	for _, cmd := range children {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v; stderr: %s", err, cmd.Stderr)
		}
		tokens[fmt.Sprint(cmd.Stdout)]++
	}
	if len(tokens) != 1 {
		t.Errorf("the processes ended with %v, want one token shared by all, saved", tokens)
	}
	ents, err := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if strings.Contains(string(data), id) || strings.Contains(string(data), secret) {
			t.Errorf("%s holds the client id or secret: %s", e.Name(), data)
		}
	}
	if want := []string{key + ".json", key + ".lock"}; err != nil || !slices.Equal(names, want) {
		t.Errorf("store holds %q, %v; want %q", names, err, want)
	}
}

// No two accounts or secrets share a key, and a key is a file name.
func TestStoreKey(t *testing.T) {
	seen := map[string][3]string{}
	for _, in := range [][3]string{
		{"https://cloud.mongodb.com/api/oauth/token", "id", "secret"},
		{"https://cloud.mongodb.com/api/oauth/token", "id", "rotated"},
		{"https://u/token\x00id", "", "secret"}, // the NUL keeps the parts apart
	} {
		key := storeKey(in[0], in[1], in[2])
		if other, ok := seen[key]; ok || !isKey(key) {
			t.Errorf("storeKey(%q) = %s, as for %q; want 64 hex digits of its own", in, key, other)
		}
		seen[key] = in
	}
}

// newStore opens a store in a new directory below t.TempDir().
func newStore(t *testing.T) *FileTokenStore {
	t.Helper()
	s, err := NewFileTokenStore(filepath.Join(t.TempDir(), "tokens"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// giveAway makes another user own p. Only root can: CI runs as root.
func giveAway(t *testing.T, p string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to plant another user's file")
	}
	if err := os.Lchown(p, 4242, 4242); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, p string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// NewFileTokenStore accepts a directory no one else can change, and
// refuses any other naming the path at fault, changing nothing.
func TestNewFileTokenStoreDirectory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  fs.FileMode // given to the parent, a directory of ours
		other bool        // the parent is made another user's
		dir   string      // to open, below the parent
		named string      // below the parent: the store's real path, or the path refused
		ok    bool
	}{
		{"created 0700", 0o700, false, "a/tokens", "a/tokens", true},
		{"sticky parent root's", 0o777 | fs.ModeSticky, false, "tokens", "tokens", true},
		{"readable by others", 0o755, false, ".", ".", true},
		{"writable by others", 0o775, false, ".", ".", false},
		{"another user's", 0o700, true, ".", ".", false},
		{"parent writable by others", 0o777, false, "tokens", ".", false},
		{"parent another user's", 0o755, true, "tokens", ".", false},
		{"sticky parent another user's", 0o777 | fs.ModeSticky, true, "tokens", ".", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, _ := filepath.EvalSymlinks(t.TempDir()) // macOS's is below a link
			chmod(t, parent, tc.mode)
			if tc.other {
				giveAway(t, parent)
			} else if tc.mode&fs.ModeSticky != 0 && os.Geteuid() != 0 {
				t.Skip("needs root, for a directory of root")
			}
			dir, named := filepath.Join(parent, tc.dir), filepath.Join(parent, tc.named)
			before, _ := os.Lstat(dir)
			s, err := NewFileTokenStore(dir)
			if tc.ok {
				wantStoreIn(t, s, err, named)
				if fi, _ := os.Stat(dir); tc.dir != "." && fi.Mode().Perm() != 0o700 {
					t.Errorf("created %s %v, want 0700", dir, fi.Mode())
				}
				return
			}
			if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), named) {
				t.Errorf("NewFileTokenStore(%q) = %v, want ErrPermission for %s", dir, err, named)
			}
			if after, _ := os.Lstat(dir); before != nil && after.Mode() != before.Mode() {
				t.Errorf("refused %s changed mode: %v -> %v", dir, before.Mode(), after.Mode())
			}
		})
	}
	parent, _ := filepath.EvalSymlinks(t.TempDir())
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(parent, link); err != nil {
		t.Fatal(err)
	}
	s, err := NewFileTokenStore(filepath.Join(link, "tokens")) // a link above the store is followed
	wantStoreIn(t, s, err, filepath.Join(parent, "tokens"))
	if _, err := NewFileTokenStore(link); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("NewFileTokenStore(a link) = %v, want fs.ErrPermission", err)
	}
	t.Setenv("XDG_CACHE_HOME", parent) // os.UserCacheDir on Linux and the BSDs
	t.Setenv("HOME", parent)           // on macOS
	cache, _ := os.UserCacheDir()
	s, err = NewFileTokenStore("")
	wantStoreIn(t, s, err, filepath.Join(cache, "atlascontract-deleteorgapikey", "tokens"))
	t.Chdir(parent)
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", ".") // os.UserCacheDir's fallback, and macOS's
	for _, dir := range []string{"tokens", ""} {
		if _, err := NewFileTokenStore(dir); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("NewFileTokenStore(%q) with HOME=. = %v, want fs.ErrPermission", dir, err)
		}
	}
}

// wantStoreIn fails t unless s, err is a store in dir, a 0700 directory.
func wantStoreIn(t *testing.T, s *FileTokenStore, err error, dir string) {
	t.Helper()
	fi, serr := os.Lstat(dir)
	if err != nil || s.dir != dir || serr != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		t.Errorf("store %v, %v; want one in %s, writable by us alone: %v, %v",
			s, err, dir, fi, serr)
	}
}

const testKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// An entry or lock file that is not a regular 0600 file of ours is not
// used: load deletes such an entry, as it does one whose token save would
// not keep, and lock refuses such a lock file. Neither opens a FIFO, so
// none makes them wait.
func TestFileTokenStoreUntrustedFiles(t *testing.T) {
	write := func(data string) func(*testing.T, string) {
		return func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	replace := func(make func(string) error) func(*testing.T, string) {
		return func(t *testing.T, p string) {
			if err := errors.Join(os.Remove(p), make(p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	entry := func(tok string, expiresIn time.Duration) string {
		exp := time.Now().Add(expiresIn).Format(time.RFC3339)
		return fmt.Sprintf(`{"access_token":%q,"expiry":%q}`, tok, exp)
	}
	for _, tc := range []struct {
		name      string
		spoil     func(t *testing.T, p string)
		entryOnly bool // a lock file so spoiled is still good
	}{
		{"mode 0644", func(t *testing.T, p string) { chmod(t, p, 0o644) }, false},
		{"another user's", giveAway, false},
		{"FIFO", replace(func(p string) error { return syscall.Mkfifo(p, 0o600) }), false},
		{"symbolic link", replace(func(p string) error { return os.Symlink("/", p) }), false},
		{"not JSON", write(`{"access_token":`), true},
		{"no b64token", write(entry("tok\r\nX: y", time.Hour)), true},
		{"kept past the cap", write(entry("tok", maxStoreLife+time.Minute)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			p := s.path(testKey, ".json")
			write(entry("tok", time.Hour))(t, p)
			if tok, ok := s.load(testKey); !ok || tok.AccessToken != "tok" {
				t.Fatalf("load of a good entry = %v, %v", tok, ok)
			}
			tc.spoil(t, p)
			if tok, ok := s.load(testKey); ok {
				t.Errorf("load = %v, want nothing", tok)
			}
			if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("untrusted entry left in place: %v", err)
			}
			if tc.entryOnly {
				return
			}
			lock := s.path(testKey, ".lock")
			write("")(t, lock)
			tc.spoil(t, lock)
			_, err := s.lock(t.Context(), testKey)
			if err == nil || !strings.Contains(err.Error(), lock) {
				t.Errorf("lock = %v, want an error naming %s", err, lock)
			}
		})
	}
	// Should an entry become a FIFO between load's Lstat and its open:
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err := openTrusted(p, os.O_RDONLY); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("openTrusted(FIFO) = %v, %v; want fs.ErrPermission", f, err)
	}
}

// save keeps a token at most maxStoreLife.
func TestFileTokenStoreSave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { // time.Now is the bubble's, fixed
		s := newStore(t)
		key, now := testKey, time.Now()
		for _, tc := range []struct {
			expiry, want time.Time
		}{
			{now.Add(time.Hour), now.Add(time.Hour)},
			{now.Add(68 * 365 * 24 * time.Hour), now.Add(maxStoreLife)},
		} {
			err := s.save(key, &oauth2.Token{AccessToken: "a-Z_0.9~+/==", Expiry: tc.expiry})
			if tok, ok := s.load(key); err != nil || !ok || !tok.Expiry.Equal(tc.want) {
				t.Errorf("saved with expiry %v: %v; loaded %+v, %v; want expiry %v",
					tc.expiry, err, tok, ok, tc.want)
			}
		}
	})
}

// Waiting for a lock another process holds ends after lockWait, or half
// the time left before ctx's deadline, or when ctx ends. On the bubble's
// clock the waits take no real time.
func TestFileTokenStoreLock(t *testing.T) {
	for _, tc := range []struct {
		name    string
		held    bool
		timeout time.Duration // of ctx; <= 0: ended
		want    error         // nil: taken
		waited  time.Duration
	}{
		{"free, ctx ended", false, -1, nil, 0},
		{"held", true, time.Hour, os.ErrDeadlineExceeded, lockWait},
		{"held, 1s left", true, time.Second, os.ErrDeadlineExceeded, time.Second / 2},
		{"held, ctx ended", true, -1, context.DeadlineExceeded, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newStore(t)
				unlock, err := s.lock(context.Background(), testKey)
				if err != nil {
					t.Fatal(err)
				}
				defer unlock()
				if !tc.held {
					unlock()
				}
				ctx, cancel := context.WithTimeout(t.Context(), tc.timeout)
				defer cancel()
				start := time.Now()
				unlock2, err := s.lock(ctx, testKey)
				if err == nil {
					unlock2()
				}
				if waited := time.Since(start); !errors.Is(err, tc.want) || waited != tc.waited {
					t.Errorf("lock: %v after %v, want %v after %v", err, waited, tc.want, tc.waited)
				}
				if err != nil && !strings.Contains(err.Error(), s.path(testKey, ".lock")) {
					t.Errorf("error %q does not name the lock file", err)
				}
			})
		})
	}
	if _, err := new(FileTokenStore).lock(context.Background(), testKey); err == nil {
		t.Error("a FileTokenStore not made by NewFileTokenStore took a lock")
	}
}

// Clear deletes the entries and nothing else: not a file the store does
// not write, nor a lock another process may hold.
func TestFileTokenStoreClear(t *testing.T) {
	s := newStore(t)
	unlock, err := s.lock(t.Context(), testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	key := storeKey("u", "a", "s")
	others := []string{testKey + ".lock", "package.json", "settings.json",
		strings.ToUpper(key) + ".json", key[:63] + ".json", key + ".json.bak", "notes"}
	for _, n := range append([]string{testKey + ".json", key + ".json"}, others[1:]...) {
		if err := os.WriteFile(filepath.Join(s.dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Clear(); err != nil {
		t.Fatal(err)
	}
	var left []string
	ents, _ := os.ReadDir(s.dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if slices.Sort(others); !slices.Equal(left, others) {
		t.Errorf("Clear left %q, want %q", left, others)
	}
}
