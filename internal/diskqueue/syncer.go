package diskqueue

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"
)

// syncLoop is the background syncer, owned by the Queue (started by Open,
// stopped and waited for by Close). Each round fsyncs what was appended
// since the last one, for every Sync caller waiting at once (group commit),
// then writes committed positions and removes segments every reader is done
// with. Rounds run when a caller asks (kick) and every SyncInterval.
func (q *Queue) syncLoop() {
	defer q.wg.Done()
	t := time.NewTicker(q.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			q.round(true)
			q.mu.Lock()
			q.syncerDone = true
			notify(&q.syncDone)
			notify(&q.posDone)
			q.mu.Unlock()
			return
		case <-q.kick:
		case <-t.C:
		}
		q.round(false)
	}
}

type posUpdate struct {
	r       *reader
	p       pos
	state   []byte       // written with p
	durable func() error // called before p is written
	gen     uint64       // the reader's gen when p and state were taken
	synced  chan error   // durable's result, from startDurable
}

// startDurable runs the outputs' durable calls of updates while the round
// fsyncs the queue's own data: the two fsyncs overlap (and share a journal
// commit) instead of following each other, so the positions, and the
// removal of the segments they free, come sooner.
func startDurable(updates []posUpdate) {
	for i := range updates {
		if durable := updates[i].durable; durable != nil {
			ch := make(chan error, 1)
			go func() { ch <- durable() }()
			updates[i].synced = ch
		}
	}
}

// round runs one fsync round; final writes every dirty position whatever
// CommitInterval says.
func (q *Queue) round(final bool) {
	defer func() {
		q.mu.Lock()
		notify(&q.posDone)
		q.mu.Unlock()
	}()
	q.mu.Lock()
	gen := q.appendGen
	files := q.toSync
	q.toSync = nil
	var active File
	var activeTarget int64
	if q.wf != nil {
		if s := q.segs[len(q.segs)-1]; s.size > q.activeSynced {
			active, activeTarget = q.wf, s.size
		}
	}
	dir := q.dirDirty
	q.dirDirty = false
	needData := len(files) > 0 || active != nil || dir || gen > q.syncedGen
	// Positions are taken now, before the fsync: they point at data written
	// before it, so they are written to disk only once that data is durable.
	// They are also written early when every reader has committed past a
	// segment: it is removed only once the positions on disk are past it.
	var updates []posUpdate
	drained := len(q.segs) > 1 && q.segs[0].id < q.low.seg
	if final || drained || q.persistNow || time.Since(q.lastPersist) >= q.opts.CommitInterval {
		for _, r := range q.readers {
			if r.dirty {
				updates = append(updates, posUpdate{r: r, p: r.committed, state: bytes.Clone(r.state), durable: r.durable, gen: r.gen})
				r.dirty = false
			}
		}
		q.lastPersist = time.Now()
		q.persistNow = false
	}
	q.mu.Unlock()

	startDurable(updates)
	if needData {
		if err := q.syncData(gen, files, active, activeTarget, dir); err != nil {
			q.mu.Lock()
			for _, u := range updates {
				u.r.dirty = true
				u.r.writeErr = err
			}
			q.mu.Unlock()
			return
		}
	}
	q.persist(updates)
	q.removeSegments()
	q.dropIdleSpares()
}

// dropIdleSpares removes the spare files of a queue that has had no Append
// for SpareIdle: writing over them saves CPU only while entries flow, and
// an idle agent should not hold a segment's worth of disk for nothing.
// Nothing needs the removal to be durable: Open removes spares.
func (q *Queue) dropIdleSpares() {
	q.mu.Lock()
	if len(q.spares) == 0 || time.Since(time.Unix(0, q.lastAppend)) < q.opts.SpareIdle {
		q.mu.Unlock()
		return
	}
	spares := q.spares
	q.spares = nil
	q.mu.Unlock()
	for _, path := range spares {
		if err := q.fs.Remove(path); err != nil {
			q.log.Warn("cannot remove idle spare segment file; it is removed at the next start", "file", path, "error", err)
		}
	}
}

// syncData fsyncs the given files (and the directory) and reports the
// result to Sync callers.
func (q *Queue) syncData(gen uint64, files []File, active File, activeTarget int64, dir bool) error {
	var errs []error
	n := int64(0)
	for _, f := range files {
		errs = append(errs, f.Sync())
		n++
	}
	if active != nil {
		errs = append(errs, active.Sync())
		n++
	}
	if dir {
		errs = append(errs, q.fs.SyncDir(q.dir))
	}
	err := errors.Join(errs...)

	q.mu.Lock()
	q.fsyncs += n
	q.rounds++
	wasFailing := q.failRound > 0 && q.failRound == q.rounds-1
	if err == nil {
		q.syncedGen = max(q.syncedGen, gen)
		if active != nil && active == q.wf {
			q.activeSynced = max(q.activeSynced, activeTarget)
		}
	} else {
		// Try these again next round. The segment being written is given up:
		// after a failed fsync the kernel may have dropped its dirty pages,
		// so new records go to a fresh file.
		q.toSync = append(files, q.toSync...)
		if dir {
			q.dirDirty = true
		}
		if active != nil && active == q.wf {
			q.sealActive = true
			q.segs[len(q.segs)-1].spare = false // what its file holds is unknown
		}
		q.failRound, q.failGen = q.rounds, gen
		q.syncErr = fmt.Errorf("diskqueue: fsync: %w", err)
	}
	notify(&q.syncDone)
	q.mu.Unlock()

	switch {
	case err != nil && !wasFailing:
		q.log.Error("fsync failed; records appended since the last good fsync may not survive a crash", "error", err)
	case err == nil && wasFailing:
		q.log.Info("fsync works again")
	}
	if err != nil {
		return err
	}
	for _, f := range files {
		if cerr := f.Close(); cerr != nil {
			q.log.Warn("cannot close segment after fsync", "error", cerr)
		}
	}
	return nil
}

// persist writes positions: each to a temp file, fsynced, renamed over the
// old one, then one fsync of the directory for all.
func (q *Queue) persist(updates []posUpdate) {
	if len(updates) == 0 {
		return
	}
	q.persistMu.Lock()
	defer q.persistMu.Unlock()
	redirty := func(r *reader, err error) {
		q.mu.Lock()
		r.dirty = true
		r.writeErr = err
		q.mu.Unlock()
	}
	var errs []error
	var written []posUpdate
	for _, u := range updates {
		q.mu.Lock()
		dropped := u.r.dropped
		q.mu.Unlock()
		if dropped {
			continue // DropReader removed its file; do not bring it back
		}
		path := posFile(q.dir, u.r.name)
		var err error
		if u.synced != nil {
			// What the state describes must be durable before the position
			// that goes with it is (the output's own fsync).
			if err = <-u.synced; err != nil {
				err = fmt.Errorf("making its output durable: %w", err)
			}
		}
		if err == nil {
			err = writePosTemp(q.fs, path, u.p, u.state)
		}
		if err == nil {
			err = q.fs.Rename(path+tmpSuffix, path)
		}
		if err != nil {
			err = fmt.Errorf("reader %s: %w", u.r.name, err)
			errs = append(errs, err)
			redirty(u.r, err)
			continue
		}
		written = append(written, u)
	}
	if len(written) > 0 {
		err := q.fs.SyncDir(q.dir)
		q.mu.Lock()
		for _, u := range written {
			if err != nil {
				u.r.dirty = true
				u.r.writeErr = err
			} else {
				u.r.written = u.p
				u.r.wroteGen = max(u.r.wroteGen, u.gen)
				u.r.writeErr = nil
			}
		}
		q.mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		q.log.Warn("cannot write reader positions; will retry (a restart may repeat more records)", "error", err)
	}
}

// removeSegments deletes the segment files that every reader's position on
// disk is past, keeping one as a spare to write the next segment over.
func (q *Queue) removeSegments() {
	q.mu.Lock()
	if len(q.readers) == 0 {
		q.mu.Unlock()
		return
	}
	n := 0
	low := q.writtenLowLocked()
	for n < len(q.segs)-1 && q.segs[n].id < low.seg {
		n++
	}
	if n == 0 {
		q.mu.Unlock()
		return
	}
	dels := slices.Clone(q.segs[:n])
	q.segs = slices.Delete(q.segs, 0, n)
	for _, s := range dels {
		q.total -= s.size
	}
	for k := range q.corruptSeen {
		if k.seg < q.segs[0].id {
			delete(q.corruptSeen, k)
		}
	}
	q.recomputeLowLocked()
	q.mu.Unlock()

	var errs []error
	var spares []string
	for _, s := range dels {
		if len(spares) == 0 {
			if path, ok := q.keepSpare(s); ok {
				spares = append(spares, path)
				continue
			}
		}
		if err := q.fs.Remove(segFile(q.dir, s.id)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := q.fs.SyncDir(q.dir); err != nil {
		errs = append(errs, err)
		for _, path := range spares {
			_ = q.fs.Remove(path) // its new name may not be durable: not for reuse
		}
		spares = nil
	}
	// A spare is written over only once its name is durable: a crash then
	// leaves new records under their segment's name or under a spare's,
	// which Open removes (with records not yet synced, which may vanish).
	q.mu.Lock()
	q.spares = append(q.spares, spares...)
	q.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		q.log.Warn("cannot remove consumed segments; they are retried at the next start", "error", err)
	}
}

// keepSpare renames drained segment s to a spare when one is wanted and
// returns its new path; false means s is to be removed. Only segments of
// about the usual size are kept: an empty one saves nothing and a larger one
// (a big Append) would hold disk.
func (q *Queue) keepSpare(s *segment) (string, bool) {
	q.mu.Lock()
	want := len(q.spares) < maxSpares && s.spare
	q.mu.Unlock()
	if !want || s.size < q.opts.SegmentBytes/2 || s.size > q.opts.SegmentBytes {
		return "", false
	}
	path := spareFile(q.dir, s.id)
	if err := q.fs.Rename(segFile(q.dir, s.id), path); err != nil {
		q.log.Warn("cannot keep drained segment as a spare; removing it", "segment", s.id, "error", err)
		return "", false
	}
	return path, true
}
