package diskqueue

import "context"

// AppendNumbered is Append that calls before, when the records' seqs are
// fixed and before anything is written, with the seq of the last one, the
// queue's lock held (so before must be quick and must not use the queue).
// A caller can so note, ahead of the write, what a restart will show of
// it: the unit is recovered whole, and then RecoveredSeq is at least that
// seq, or not at all. When Append fails after before was called, nothing of
// the unit is kept and its seqs are used again.
func (q *Queue) AppendNumbered(ctx context.Context, records [][]byte, before func(last uint64)) error {
	return q.append(ctx, records, before)
}

// RecoveredSeq is the seq of the last record the queue held when Open
// returned (0 when it held none): Open found every record up to it (a torn
// tail is cut off first) and fsynced them. After a kill -9 it includes the
// records appended but not yet synced, which the page cache kept; after a
// power loss those may be missing, and then it is lower.
func (q *Queue) RecoveredSeq() uint64 { return q.recovered }
