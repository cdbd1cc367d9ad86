package file

// Commits: the queue's fsync and the checkpoint, beside the reading
//
// The reader appends what it read to the queue as it goes. At the end of a
// round it takes a snapshot of every file's offset covered by those
// appends and hands it to the committer goroutine, which calls sink.Sync
// and, once that returned, writes the snapshot as the checkpoint. The
// reader meanwhile reads the next round:
//
//	reader:     read 1 | read 2          | read 3 | read 4 ...
//	committer:         | sync+ckpt 1     |        | sync+ckpt 2+3 ...
//
// At most one commit is in flight; a round that ends while one is leaves
// its offsets for the next, which then covers several rounds (group
// commit). The reader waits for the committer only when it has read
// maxUnsaved bytes past the offsets of the last checkpoint written, so
// that a kill -9 makes it read again at most that much and the round under
// way (with the same record ids, id.go).
//
// The invariant of checkpoint.go holds: a snapshot is taken after the
// appends of every line it covers returned, and Sync is called after the
// snapshot is taken.

import (
	"context"
	"encoding/hex"
)

// maxUnsaved is how far the reader reads past the offsets of the last
// checkpoint written before it waits for the commit in flight.
const maxUnsaved = 8 * roundBudget

// commitRound is one snapshot of the offsets, to be checkpointed once the
// queue has every entry before them durably.
type commitRound struct {
	files  []fileOffsets // the checkpoint, orphans included
	tails  []*tail       // files[i] is tails[i]'s; the orphans have none
	epochs []uint64      // tails[i].epoch when the snapshot was taken
	seeds  [][16]byte    // tails[i].seed then
	read   int64         // the reader's unsaved bytes then: what this checkpoint saves

	syncErr, ckptErr error
}

// committer syncs the queue and writes the checkpoint of each round handed
// to it, then hands the round back. It ends when r.commits is closed.
func (r *reader) committer(ctx context.Context) {
	defer close(r.committerDone)
	var buf []byte
	for c := range r.commits {
		c.syncErr, c.ckptErr = r.sink.Sync(ctx), nil
		if c.syncErr == nil {
			if buf, c.ckptErr = saveCheckpoint(r.ckptPath, c.files, buf); c.ckptErr != nil {
				r.in.c.checkpointErrs.Add(1)
			}
		}
		r.finished <- c
	}
}

// commit appends the batch and, when no commit is in flight and offsets
// changed, hands a snapshot of them to the committer. With wait, or once
// the reader has read maxUnsaved bytes not saved, it waits for
// that commit (with wait, for the new one too). It returns the last
// error: the append's, or the Sync's of a commit that came back.
func (r *reader) commit(ctx context.Context, wait bool) error {
	if r.appendErr = r.appendBatch(ctx); r.appendErr != nil {
		return r.appendErr
	}
	var err error
	if r.inflight != nil {
		if wait || r.unsaved >= maxUnsaved {
			err = r.collect(<-r.finished)
		} else {
			select {
			case c := <-r.finished:
				err = r.collect(c)
			default:
			}
		}
	}
	if r.inflight != nil || !r.dirty || err != nil {
		return err
	}
	r.startCommit()
	if wait {
		err = r.collect(<-r.finished)
	}
	return err
}

// startCommit hands the committer a snapshot of the offsets the appends so
// far cover.
func (r *reader) startCommit() {
	c := r.spare
	r.spare = nil
	if c == nil {
		c = &commitRound{}
	}
	c.files, c.tails, c.epochs, c.seeds = c.files[:0], c.tails[:0], c.epochs[:0], c.seeds[:0]
	for _, t := range r.files {
		if r.isShadow(t) {
			continue // found again by its fingerprint
		}
		c.files = append(c.files, t.offsets(t.doneOff))
		c.tails = append(c.tails, t)
		c.epochs = append(c.epochs, t.epoch)
		c.seeds = append(c.seeds, t.seed)
	}
	// Checkpointed files not found yet stay in the checkpoint.
	c.files = append(c.files, r.orphans...)
	c.read = r.unsaved
	r.dirty = false
	r.inflight = c
	r.commits <- c
}

// collect takes back the commit in flight: its offsets are now durable
// (unless it failed, and then they are committed again).
func (r *reader) collect(c *commitRound) error {
	r.inflight = nil
	defer func() { r.spare = c }()
	if c.syncErr != nil {
		r.dirty = true
		return c.syncErr
	}
	if c.ckptErr != nil {
		r.dirty = true
		r.warnOnce("checkpoint", "cannot save file offsets; retrying (a restart now would read lines again)", "error", c.ckptErr)
		return nil
	}
	r.unsaved -= c.read
	for i, t := range c.tails {
		if t.epoch != c.epochs[i] {
			continue // truncated since: its offsets started again
		}
		t.saveOff = c.files[i].Offset
		if t.seed == c.seeds[i] {
			t.seedSaved = true
		}
	}
	return nil
}

// waitCommit waits for the commit in flight, if any.
func (r *reader) waitCommit() {
	if r.inflight != nil {
		if err := r.collect(<-r.finished); err != nil {
			r.warnOnce("commit", "cannot sync the queue; retrying", "error", err)
		}
	}
}

// saveSeeds writes the checkpoint (with the offsets already durable) when a
// file has a seed not saved yet, before any record using it is appended.
func (r *reader) saveSeeds() error {
	unsaved := false
	for _, t := range r.files {
		unsaved = unsaved || !t.seedSaved
	}
	if !unsaved {
		return nil
	}
	r.waitCommit() // one writer of the checkpoint at a time, in order
	return r.writeCheckpoint()
}

// writeCheckpoint saves every file's durable offset and seed.
func (r *reader) writeCheckpoint() error {
	files := make([]fileOffsets, 0, len(r.files)+len(r.orphans))
	for _, t := range r.files {
		if r.isShadow(t) {
			continue // found again by its fingerprint
		}
		files = append(files, t.offsets(t.saveOff))
	}
	// Checkpointed files not found yet stay in the checkpoint.
	files = append(files, r.orphans...)
	var err error
	if r.ckptBuf, err = saveCheckpoint(r.ckptPath, files, r.ckptBuf); err != nil {
		r.in.c.checkpointErrs.Add(1)
		return err
	}
	for _, t := range r.files {
		t.seedSaved = t.seedSaved || !r.isShadow(t)
	}
	return nil
}

// offsets is t's entry in a checkpoint that says it is read up to off.
func (t *tail) offsets(off int64) fileOffsets {
	return fileOffsets{Path: t.path, Dev: t.key.dev, Ino: t.key.ino, FPLen: t.fpLen,
		FP: hex.EncodeToString(t.fp[:]), Offset: off, Seed: hex.EncodeToString(t.seed[:])}
}

func decodeSeed(s string) (seed [16]byte, ok bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return seed, false
	}
	copy(seed[:], b)
	return seed, true
}
