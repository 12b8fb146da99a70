//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package authedit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

func flockSupported() error {
	return fmt.Errorf("authedit: file token store needs flock(2): %w", errors.ErrUnsupported)
}

func lockFile(context.Context, string) (func(), error) { return nil, flockSupported() }
func openNoFollow(p string) (*os.File, error)          { return os.Open(p) }
func ownedByUs(fs.FileInfo) bool                       { return false }
