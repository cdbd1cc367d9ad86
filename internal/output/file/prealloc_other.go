//go:build !linux

package file

import (
	"errors"
	"os"
)

// reserveSpace is not available here: the output grows its file as it writes.
func reserveSpace(*os.File, int64, int64) error { return errors.ErrUnsupported }
