package diskqueue

// LastSeq is the sequence number of the last record appended so far, by any
// appender (0 before the first). Read after an Append returned, it is at
// least the seq of that Append's last record.
func (q *Queue) LastSeq() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.nextSeq - 1
}

// RecoveredSeq is the sequence number of the last record the queue held
// when Open returned (0 when it held none): Open found every record up to
// it (a torn tail is cut off first) and fsynced them. After a kill -9 it
// includes the records appended but not yet synced, which the page cache
// kept; after a power loss those may be missing, and then it is lower.
func (q *Queue) RecoveredSeq() uint64 { return q.recovered }
