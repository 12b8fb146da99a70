//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package authedit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

func flockSupported() error { return nil }

// flock locks f, polling so that the wait ends with ctx or after wait.
func flock(ctx context.Context, f *os.File, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		left := time.Until(deadline)
		switch {
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return err // nil: locked
		case ctx.Err() != nil:
			return ctx.Err()
		case left <= 0:
			return fmt.Errorf("not taken within %v: %w", wait, os.ErrDeadlineExceeded)
		}
		select {
		case <-time.After(min(10*time.Millisecond, left)):
		case <-ctx.Done():
		}
	}
}

// owner returns the id of the user who owns fi.
func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
