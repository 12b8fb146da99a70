//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package authedit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

const openFlags = 0

func flockSupported() error {
	return fmt.Errorf("authedit: file token store needs flock(2): %w", errors.ErrUnsupported)
}

func flock(context.Context, *os.File, time.Duration) error { return flockSupported() }

// owner answers no user: without flock the store is never opened.
func owner(fs.FileInfo) int { return -2 }
