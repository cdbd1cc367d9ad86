package org.logflux.agent;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Holds every entry from the {@code log} call until the agent has confirmed it durable (or refused it, or it went to
 * the fallback, or it was dropped at close). The sender takes records from the {@link Ring}, encodes them and copies
 * them into chunks; a chunk is one batch in the making:
 *
 * <pre>
 * ring ──append──▶ tail ──seal──▶ sealed ──pop──▶ connection ──flush answer──▶ released
 *                                  ▲      (pending → unconfirmed)    │
 *                                  └────────── requeue ──────────────┘
 *                                    (connection lost, queue_full)
 * </pre>
 *
 * A chunk's bytes stay charged from the first append to the release, so the byte cap bounds all the memory held for
 * entries, including what was sent but not yet confirmed.
 *
 * <p>Flush generations: a chunk belongs to the generation current when it was opened. A flush seals the tail and
 * starts a new generation; it is done when no chunk of its generation or an older one is outstanding.
 *
 * <p>One {@link ReentrantLock} guards it (never {@code synchronized}: a virtual thread waiting for it unmounts). Only
 * the sender (and {@code flush}, {@code stats} and {@code close}) take it; {@code log} never does.
 */
final class Queue {
    static final int MAX_BATCH_ENTRIES = 100;
    /** Memory charged per entry and per chunk besides the entry's JSON bytes. */
    static final int ENTRY_OVERHEAD = 16;
    static final int CHUNK_OVERHEAD = 128;


    final long maxBytes;
    final int batchBytes;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private int waiters;

    private long bytes;
    /**
     * The byte cap's counter, shared with the {@link Ring}: the estimates of records in the ring plus the chunks'
     * costs. The ring adds a record's estimate when it takes it; the sender swaps estimates for encoded costs once
     * per drain ({@link #recharge}); {@link #release} takes the cost off.
     */
    final java.util.concurrent.atomic.AtomicLong charged = new java.util.concurrent.atomic.AtomicLong();
    private long entries;
    private long logged;
    private Chunk tail;
    private final PriorityQueue<Chunk> sealed = new PriorityQueue<>(
            (a, b) -> a.seq != b.seq ? Long.compare(a.seq, b.seq) : Long.compare(a.part, b.part));
    private long seq;
    private long gen = 1;
    // Chunks not yet released, by generation (few generations are alive at once).
    private long[] gens = new long[8];
    private int[] genCounts = new int[8];
    private int ngens;
    // The last seal for a flush: every record the ring had handed over up to sealedSeq is in a chunk of generation
    // sealedGen or older (0: nothing was outstanding then).
    private long sealedSeq = -1;
    private long sealedGen;
    private final ArrayDeque<Chunk> free = new ArrayDeque<>();
    private long freeBytes;

    Queue(long maxBytes, int batchBytes) {
        this.maxBytes = maxBytes;
        this.batchBytes = batchBytes;
    }

    /**
     * Copies one finished entry into the queue; the sender does this (or the closing thread once the sender has
     * stopped) for records the {@link Ring} admitted against the byte cap, so it is never refused. Returns the bytes
     * it charged (the caller settles them with {@link #recharge}).
     */
    long push(EntryEncoder enc) {
        return push(enc, null, 0, enc.encodedLength());
    }

    /** Like {@link #push(EntryEncoder)} for an entry already encoded: src[off, off+len). */
    long push(byte[] src, int off, int len) {
        return push(null, src, off, len);
    }

    /** Swaps records' estimates for what they cost once encoded: delta = costs - estimates. */
    void recharge(long delta) {
        if (delta != 0) {
            charged.addAndGet(delta);
        }
    }

    /** Holds the lock across many pushes (the sender's drain), so each push takes it again cheaply. */
    void lockForPushes() {
        lock.lock();
    }

    void unlockAfterPushes() {
        lock.unlock();
    }

    private long push(EntryEncoder enc, byte[] src, int off, int len) {
        long cost = len + ENTRY_OVERHEAD;
        lock.lock();
        try {
            Chunk t = tail;
            if (t != null && t.len + 1 + len + Chunk.SUFFIX.length > batchBytes) {
                sealTail();
                t = null;
            }
            if (t == null) {
                cost += CHUNK_OVERHEAD;
                t = open(len);
            }
            if (enc != null) {
                t.append(enc, len);
            } else {
                t.appendRaw(src, off, len);
            }
            t.cost += cost;
            bytes += cost;
            entries++;
            logged++;
            if (t.count >= MAX_BATCH_ENTRIES || t.len + Chunk.SUFFIX.length >= batchBytes) {
                sealTail();
            }
            return cost;
        } finally {
            lock.unlock();
        }
    }

    private Chunk open(int firstLen) {
        Chunk c = free.pollFirst();
        if (c != null) {
            freeBytes -= c.buf.length;
        } else {
            // Room for a full batch of entries like the first one; it grows if they are longer.
            long guess = (long) (firstLen + 1) * MAX_BATCH_ENTRIES * 5 / 4 + Chunk.PREFIX.length + Chunk.SUFFIX.length;
            c = new Chunk((int) Math.min(guess, batchBytes + Chunk.SUFFIX.length + firstLen));
        }
        c.reset(++seq, gen);
        addGen(gen, 1);
        tail = c;
        return c;
    }

    private void sealTail() {
        tail.seal();
        sealed.add(tail);
        tail = null;
    }

    private void addGen(long g, int delta) {
        for (int i = 0; i < ngens; i++) {
            if (gens[i] == g) {
                genCounts[i] += delta;
                if (genCounts[i] == 0) {
                    ngens--;
                    gens[i] = gens[ngens];
                    genCounts[i] = genCounts[ngens];
                }
                return;
            }
        }
        if (ngens == gens.length) {
            gens = java.util.Arrays.copyOf(gens, ngens * 2);
            genCounts = java.util.Arrays.copyOf(genCounts, ngens * 2);
        }
        gens[ngens] = g;
        genCounts[ngens++] = delta;
    }

    /** Seals a non-empty tail, so that entries logged a while ago get sent. Returns true if it sealed one. */
    boolean sealIdle() {
        lock.lock();
        try {
            if (tail != null && tail.count > 0) {
                sealTail();
                return true;
            }
            return false;
        } finally {
            lock.unlock();
        }
    }

    /**
     * For a flush: seals the tail and starts a new generation. Returns the generation to wait for, or 0 when nothing
     * is outstanding.
     */
    long sealForFlush() {
        lock.lock();
        try {
            return sealForFlushLocked();
        } finally {
            lock.unlock();
        }
    }

    private long sealForFlushLocked() {
        if (tail != null && tail.count > 0) {
            sealTail();
        }
        if (ngens == 0) {
            return 0;
        }
        return gen++;
    }

    /**
     * For a flush, on the sender thread once it has taken every record before ring sequence seq from the ring: seals
     * like {@link #sealForFlush} and records the generation for {@link #awaitSealed}. Returns the generation (or 0).
     */
    long sealForFlush(long seq) {
        lock.lock();
        try {
            long g = sealForFlushLocked();
            if (seq > sealedSeq) {
                sealedSeq = seq;
                sealedGen = g;
            }
            if (waiters > 0) {
                changed.signalAll();
            }
            return g;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until the sender has sealed every record before ring sequence seq for a flush (see
     * {@link #sealForFlush(long)}). Returns the generation to wait for with {@link #awaitDone} (0: nothing was
     * outstanding), or -1 when stop says to give up or the deadline passes first.
     */
    long awaitSealed(long seq, long deadlineNanos, java.util.function.BooleanSupplier stop) throws InterruptedException {
        lock.lock();
        try {
            waiters++;
            try {
                while (sealedSeq < seq) {
                    if (stop.getAsBoolean()) {
                        return -1;
                    }
                    long left = deadlineNanos - System.nanoTime();
                    if (left <= 0) {
                        return -1;
                    }
                    changed.awaitNanos(Math.min(left, TimeUnit.MILLISECONDS.toNanos(100)));
                }
                return sealedGen;
            } finally {
                waiters--;
            }
        } finally {
            lock.unlock();
        }
    }

    /** Whether a chunk of generation g or older is outstanding. */
    boolean pending(long g) {
        lock.lock();
        try {
            return pendingLocked(g);
        } finally {
            lock.unlock();
        }
    }

    private boolean pendingLocked(long g) {
        for (int i = 0; i < ngens; i++) {
            if (gens[i] <= g) {
                return true;
            }
        }
        return false;
    }

    /**
     * Waits until nothing of generation g or older is outstanding, stop says to give up, or the deadline passes.
     * Returns true when nothing is pending.
     */
    boolean awaitDone(long g, long deadlineNanos, java.util.function.BooleanSupplier stop) throws InterruptedException {
        lock.lock();
        try {
            waiters++;
            try {
                while (pendingLocked(g)) {
                    if (stop.getAsBoolean()) {
                        return false;
                    }
                    long left = deadlineNanos - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                    changed.awaitNanos(Math.min(left, TimeUnit.MILLISECONDS.toNanos(100)));
                }
                return true;
            } finally {
                waiters--;
            }
        } finally {
            lock.unlock();
        }
    }

    /** Wakes flush waiters to look at the sender's state again. */
    void signal() {
        lock.lock();
        try {
            if (waiters > 0) {
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    /** The oldest sealed chunk, or null. */
    Chunk pop() {
        lock.lock();
        try {
            return sealed.poll();
        } finally {
            lock.unlock();
        }
    }

    int sealedCount() {
        lock.lock();
        try {
            return sealed.size();
        } finally {
            lock.unlock();
        }
    }

    /** The generation of the oldest sealed chunk, or Long.MAX_VALUE when none waits. */
    long oldestSealedGen() {
        lock.lock();
        try {
            Chunk c = sealed.peek();
            return c == null ? Long.MAX_VALUE : c.gen;
        } finally {
            lock.unlock();
        }
    }

    /** Puts chunks back, to be sent again in their original order. */
    void requeue(List<Chunk> cs) {
        if (cs.isEmpty()) {
            return;
        }
        lock.lock();
        try {
            sealed.addAll(cs);
        } finally {
            lock.unlock();
        }
    }

    /** Splits a sealed chunk of two or more entries into two (for message_too_large) and queues both; c must then be released. */
    void splitAndRequeue(Chunk c) {
        lock.lock();
        try {
            int half = c.count / 2;
            Chunk a = new Chunk(c.len);
            Chunk b = new Chunk(c.len);
            a.reset(c.seq, c.gen);
            b.reset(c.seq, c.gen);
            a.part = c.part * 2;
            b.part = c.part * 2 + 1; // sorts after a: same seq
            for (int i = 0; i < c.count; i++) {
                Chunk to = i < half ? a : b;
                int n = c.ends[i] - c.starts[i];
                to.appendRaw(c.buf, c.starts[i], n);
                to.cost += n + ENTRY_OVERHEAD;
            }
            a.cost += CHUNK_OVERHEAD;
            b.cost += CHUNK_OVERHEAD;
            a.seal();
            b.seal();
            // Charged as new chunks; the caller releases c.
            bytes += a.cost + b.cost;
            charged.addAndGet(a.cost + b.cost);
            entries += c.count;
            addGen(c.gen, 2);
            sealed.add(a);
            sealed.add(b);
        } finally {
            lock.unlock();
        }
    }

    /** Takes every chunk not yet handed to the sender: the tail (sealed) and the sealed ones, oldest first. */
    List<Chunk> popAll() {
        lock.lock();
        try {
            if (tail != null && tail.count > 0) {
                sealTail();
            }
            List<Chunk> out = new ArrayList<>(sealed.size());
            Chunk c;
            while ((c = sealed.poll()) != null) {
                out.add(c);
            }
            return out;
        } finally {
            lock.unlock();
        }
    }

    /** Frees a chunk the agent confirmed or refused, or that went to the fallback or was dropped. */
    void release(Chunk c) {
        lock.lock();
        try {
            bytes -= c.cost;
            charged.addAndGet(-c.cost);
            entries -= c.count;
            addGen(c.gen, -1);
            // Keep the buffer for reuse while queued and kept memory stay within the cap: steady logging then
            // allocates no new chunks, and the memory held stays bounded by maxBytes.
            if (bytes + freeBytes + c.buf.length <= maxBytes) {
                free.addFirst(c);
                freeBytes += c.buf.length;
            }
            if (waiters > 0) {
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    /** {entries queued, bytes charged (the ring's estimates included), entries logged so far}. */
    long[] usage() {
        lock.lock();
        try {
            return new long[] {entries, charged.get(), logged};
        } finally {
            lock.unlock();
        }
    }

    /** Bytes charged against the cap: the queue's chunks and the estimates of records still in the ring. */
    long bytes() {
        return charged.get();
    }
}
