package file

// Checkpoints
//
// One JSON file per input, <data_dir>/inputs/<name>.offsets.json, replaced
// whole: written to a temporary file, fsynced, renamed over the old one,
// and the directory fsynced. It lists every file the input knows with the
// offset after the last line whose entry is durable in the queue:
//
//	{"version":1,"gen":42,"files":[{"path":"/var/log/app.log","dev":2049,"ino":131,
//	  "fp_len":1024,"fp":"<sha-256 of the first fp_len bytes>","offset":5120,
//	  "seed":"<16 bytes of the record ids, id.go>"}]}
//
// The invariant: an offset is written only after sink.Sync returned for
// every entry read before it. A restart resumes at the offsets, so a kill
// at any moment loses nothing.
//
// Beside it, with a queue that numbers its records (input.SeqSink: the disk
// queue), the input keeps a provisional checkpoint (provisional.go): the
// same list, written without fsync with every append, tagged with the
// queue's number of that append's last record. gen orders the two: every
// checkpoint of either kind written gets the next one, and the durable one
// takes the gen of the moment its offsets were taken. On start a
// provisional one is used only when it is newer (a higher gen) and the
// queue found, on opening, every record up to its tag; it is then made the
// durable one, and the provisional files are removed (durably) before
// anything is read. So a kill -9 repeats no line; a power loss that took
// queue records, or tore the provisional file, falls back to the durable
// checkpoint: the lines after it are read again and get the same record
// ids as the first time (id.go).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/logflux/agent/internal/protocol"
)

// checkpointVersion is the format written; other versions are refused.
const checkpointVersion = 1

type checkpointFile struct {
	Version int           `json:"version"`
	Gen     uint64        `json:"gen,omitempty"` // orders it with the provisional checkpoints
	Files   []fileOffsets `json:"files"`
}

// fileOffsets is one file's saved state.
type fileOffsets struct {
	Path   string `json:"path"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	FPLen  int    `json:"fp_len"`
	FP     string `json:"fp"` // hex
	Offset int64  `json:"offset"`
	Seed   string `json:"seed,omitempty"` // hex: of the record ids (id.go)
}

// checkpointPath is where input name keeps its offsets.
func checkpointPath(dir, name string) string {
	return filepath.Join(dir, name+".offsets.json")
}

// loadCheckpoint reads the saved offsets; found is false when there are
// none (the input's very first start).
func loadCheckpoint(path string) (cf checkpointFile, found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf, false, nil
	}
	if err != nil {
		return cf, false, fmt.Errorf("reading checkpoint: %w", err)
	}
	if cf, err = decodeCheckpoint(data); err != nil {
		return cf, false, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return cf, true, nil
}

// decodeCheckpoint parses what appendCheckpoint wrote.
func decodeCheckpoint(data []byte) (cf checkpointFile, err error) {
	if err := json.Unmarshal(data, &cf); err != nil {
		return cf, fmt.Errorf("damaged: %w", err)
	}
	if cf.Version != checkpointVersion {
		return cf, fmt.Errorf("format version %d; this agent reads %d", cf.Version, checkpointVersion)
	}
	return cf, nil
}

// saveCheckpoint replaces the saved offsets atomically and durably.
func saveCheckpoint(path string, files []fileOffsets, gen uint64, buf []byte) ([]byte, error) {
	buf = appendCheckpoint(buf[:0], files, gen)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return buf, fmt.Errorf("writing checkpoint: %w", err)
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return buf, fmt.Errorf("writing checkpoint: %w", err)
	}
	return buf, nil
}

// appendCheckpoint appends the checkpoint of files as JSON, as
// encoding/json would write a checkpointFile (a commit writes one per round
// for every file followed, thousands of them, so without reflection).
func appendCheckpoint(dst []byte, files []fileOffsets, gen uint64) []byte {
	dst = append(dst, `{"version":`...)
	dst = strconv.AppendInt(dst, checkpointVersion, 10)
	if gen != 0 {
		dst = append(dst, `,"gen":`...)
		dst = strconv.AppendUint(dst, gen, 10)
	}
	dst = append(dst, `,"files":[`...)
	for i := range files {
		f := &files[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"path":`...)
		dst = protocol.AppendString(dst, f.Path)
		dst = append(dst, `,"dev":`...)
		dst = strconv.AppendUint(dst, f.Dev, 10)
		dst = append(dst, `,"ino":`...)
		dst = strconv.AppendUint(dst, f.Ino, 10)
		dst = append(dst, `,"fp_len":`...)
		dst = strconv.AppendInt(dst, int64(f.FPLen), 10)
		dst = append(dst, `,"fp":`...)
		dst = protocol.AppendString(dst, f.FP)
		dst = append(dst, `,"offset":`...)
		dst = strconv.AppendInt(dst, f.Offset, 10)
		if f.Seed != "" {
			dst = append(dst, `,"seed":`...)
			dst = protocol.AppendString(dst, f.Seed)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
