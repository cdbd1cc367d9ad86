package file

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// checkWritableDir reports whether the agent could create dir (as
// os.MkdirAll would) and create files in it, without leaving anything
// behind: it tries the first step that would be taken, creating the first
// missing directory or a file in the existing one, and removes it again.
func checkWritableDir(dir string) error {
	dir = filepath.Clean(dir)
	existing, missing := dir, ""
	for {
		fi, err := os.Stat(existing)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("cannot create directory %s: %s is not a directory", dir, existing)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("cannot use directory %s: %w", dir, err)
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			return fmt.Errorf("cannot create directory %s: %w", dir, err)
		}
		existing, missing = parent, existing
	}
	if missing != "" {
		if err := os.Mkdir(missing, 0o750); err != nil {
			return fmt.Errorf("cannot create directory %s: %w", dir, err)
		}
		os.Remove(missing)
		return nil
	}
	f, err := os.CreateTemp(dir, ".logflux-validate-*")
	if err != nil {
		return fmt.Errorf("cannot write in directory %s: %w", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}
