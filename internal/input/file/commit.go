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
//
// So that a kill -9 does not make it read those maxUnsaved bytes again, the
// reader also writes a provisional checkpoint (provisional.go) with every
// append, when the queue numbers its records: the offsets that append
// covers, tagged with the queue's number of its last record, written once
// those numbers are fixed and before the records are (beforeWrite).
// The invariant: every checkpoint written, of either kind, gets the next
// gen, and a durable one the gen of the moment its snapshot was taken; a
// provisional checkpoint's offsets are covered by its append, whose last
// record is numbered its tag, and the appends before. On start the newest
// is used, a provisional one only if the queue recovered every record up to
// its tag; else the durable one (at-least-once, the lines read again with
// the same ids).

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
	gen    uint64        // the checkpoints' order (checkpoint.go)

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
			if buf, c.ckptErr = saveCheckpoint(r.ckptPath, c.files, c.gen, buf); c.ckptErr != nil {
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
	c.tails, c.epochs, c.seeds = c.tails[:0], c.epochs[:0], c.seeds[:0]
	c.files = r.checkpointFiles(c.files[:0], doneOff, &c.tails)
	for _, t := range c.tails {
		c.epochs = append(c.epochs, t.epoch)
		c.seeds = append(c.seeds, t.seed)
	}
	c.read = r.unsaved
	c.gen = r.nextGen()
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

// writeCheckpoint saves every file's durable offset and seed. It is newer
// than the provisional checkpoints written before, so one with the offsets
// already appended follows it.
func (r *reader) writeCheckpoint() error {
	var err error
	r.ckptFiles = r.checkpointFiles(r.ckptFiles[:0], saveOff, nil)
	if r.ckptBuf, err = saveCheckpoint(r.ckptPath, r.ckptFiles, r.nextGen(), r.ckptBuf); err != nil {
		r.in.c.checkpointErrs.Add(1)
		return err
	}
	for _, t := range r.files {
		t.seedSaved = t.seedSaved || !r.isShadow(t)
	}
	if r.prov.seqs != nil {
		r.writeProvisionalNow()
	}
	return nil
}

// provisionalDue says whether an append of n bytes gets its provisional
// checkpoint. One is written at most once per its own size in bytes
// appended, so that with thousands of files followed (a checkpoint of
// hundreds of KiB) it costs less than the lines; a kill -9 then repeats at
// most that many bytes of lines. The rest is written when the reader has
// nothing more to read (flushProvisional).
func (r *reader) provisionalDue(n int) bool {
	return r.prov.seqs != nil && r.prov.owed+int64(n) >= int64(r.prov.size)
}

// flushProvisional writes the provisional checkpoint of the appends that
// have none yet.
func (r *reader) flushProvisional() {
	if r.prov.seqs != nil && r.prov.owed > 0 {
		r.writeProvisionalNow()
	}
}

// writeProvisionalNow writes a provisional checkpoint of every append so
// far.
func (r *reader) writeProvisionalNow() {
	r.ckptFiles = r.checkpointFiles(r.ckptFiles[:0], doneOff, nil)
	r.prov.prepare(r.ckptFiles)
	r.writeProvisional(r.prov.tag, r.prov.slot)
}

// beforeWrite is called by the queue, its lock held, when the numbers of
// the append under way are fixed: the provisional checkpoint prepared for
// it is written before the records.
func (r *reader) beforeWrite(last uint64) {
	r.prov.pending = last
	if r.prov.ready {
		r.prov.wrote = r.writeProvisional(last, r.prov.slot)
	}
}

// afterAppend notes the end of an append of n bytes: with err, a
// provisional checkpoint written for it is written over with what the
// appends before covered.
func (r *reader) afterAppend(err error, n int) {
	wrote := r.prov.wrote
	r.prov.wrote = false
	if err == nil {
		r.prov.tag = r.prov.pending
		if !wrote {
			r.prov.owed += int64(n)
		}
		return
	}
	if wrote {
		r.ckptFiles = r.checkpointFiles(r.ckptFiles[:0], doneOff, nil)
		r.prov.prepare(r.ckptFiles)
		if !r.writeProvisional(r.prov.tag, r.prov.slot^1) {
			// Its tag may come to number other records: no more of them
			// this run, and none used at the next start.
			r.in.log.Error("cannot undo a provisional checkpoint; removing them", "error", removeProvisional(r.ckptPath))
			r.prov.close()
			r.prov.seqs = nil
		}
	}
}

// writeProvisional writes the provisional checkpoint prepared; one that
// cannot be written leaves the last one written, older but true.
func (r *reader) writeProvisional(tag uint64, slot int) bool {
	if err := r.prov.write(r.nextGen(), tag, slot); err != nil {
		r.in.c.checkpointErrs.Add(1)
		r.warnOnce("provisional", "cannot save provisional file offsets (a kill now would make lines be read again)", "error", err)
		return false
	}
	return true
}

// nextGen is the gen of the next checkpoint.
func (r *reader) nextGen() uint64 {
	r.gen++
	return r.gen
}

// Which offset of a file a checkpoint saves.
func saveOff(t *tail) int64 { return t.saveOff } // durable
func doneOff(t *tail) int64 { return t.doneOff } // appended
func emitOff(t *tail) int64 { return t.emitOff } // in the batch

// checkpointFiles appends to dst every file's entry in a checkpoint, with
// the offset off says, then the checkpointed files not found yet. With
// tails, it appends to it the file of each entry but those.
func (r *reader) checkpointFiles(dst []fileOffsets, off func(*tail) int64, tails *[]*tail) []fileOffsets {
	for _, t := range r.files {
		if r.isShadow(t) {
			continue // found again by its fingerprint
		}
		dst = append(dst, t.offsets(off(t)))
		if tails != nil {
			*tails = append(*tails, t)
		}
	}
	return append(dst, r.orphans...)
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
