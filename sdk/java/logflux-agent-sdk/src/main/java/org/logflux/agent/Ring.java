package org.logflux.agent;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The hand-off from application threads to the sender: a bounded, lock-free ring of records captured by {@code log}
 * and not yet encoded. Many threads put, one thread (the sender, or the closing thread once the sender has stopped)
 * takes:
 *
 * <pre>
 *   producers: charge bytes → CAS head → write slot (encoder, estimate) → publish item (release store)
 *   consumer:  read item (acquire) at tail → null means "claimed, not yet published": stop there
 *
 *   head = claimed slots ·2, low bit = closed (no more claims)        tail = slots taken by the consumer
 * </pre>
 *
 * A slot is claimed with one compare-and-set on {@code head}; closing sets the low bit in the same word, so a claim
 * either happens before the close (and the closing thread sees and drains it) or fails. Besides its slot count the
 * ring is bounded by the queue's byte cap: a put adds an estimate of the record's encoded size to the counter the
 * queue keeps ({@link Queue#charged}) and is refused if that passes the cap; the sender swaps estimates for encoded
 * costs when it moves records into the {@link Queue}. No lock and no {@code synchronized}: a virtual thread
 * never waits here.
 */
final class Ring {
    private static final VarHandle ITEMS = MethodHandles.arrayElementVarHandle(Object[].class);
    private static final VarHandle HEAD;
    private static final VarHandle TAIL;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            HEAD = l.findVarHandle(Ring.class, "head", long.class);
            TAIL = l.findVarHandle(Ring.class, "tail", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Results of {@link #put} besides a sequence number. */
    static final long FULL = -1, CLOSED = -2;

    private final int mask;
    private final Object[] items;
    private final RecordEncoder<?>[] encoders;
    private final int[] estimates;
    /** The byte cap's counter, the queue's (see {@link Queue#charged}). */
    private final AtomicLong charged;
    /** The cap less one chunk's overhead, which the chunk being filled may charge beyond its entries' estimates. */
    private final long admitBytes;
    /**
     * A cached bound of the claims that fit: tail + capacity as last read. Producers read the consumer's tail only
     * when they reach it, not at every put (a stale value is only ever too low).
     */
    private volatile long limit;

    // Keep the producers' word and the consumer's word on separate cache lines.
    @SuppressWarnings("unused")
    private long p01, p02, p03, p04, p05, p06, p07;
    private volatile long head;
    @SuppressWarnings("unused")
    private long p11, p12, p13, p14, p15, p16, p17;
    private volatile long tail;
    @SuppressWarnings("unused")
    private long p21, p22, p23, p24, p25, p26, p27;

    /** A ring of at least {@code slots} slots (rounded up to a power of two), sharing queue's byte cap. */
    Ring(int slots, Queue queue) {
        int n = Integer.highestOneBit(Math.max(2, slots - 1)) << 1;
        this.mask = n - 1;
        this.items = new Object[n];
        this.encoders = new RecordEncoder<?>[n];
        this.estimates = new int[n];
        this.charged = queue.charged;
        this.admitBytes = queue.maxBytes - Queue.CHUNK_OVERHEAD;
        this.limit = n;
    }

    /**
     * The number of slots for a queue of maxBytes: one per 128 bytes (no record is charged less than about 130 bytes,
     * see {@link LogfluxClient}, so the byte cap, not the slots, is what bounds the ring), between 1,024 and 2^20. The
     * slots take 12 to 20 bytes each, allocated once (about a tenth of maxBytes, besides it).
     */
    static int slotsFor(long maxBytes) {
        return (int) Math.max(1024, Math.min(1 << 20, maxBytes / 128));
    }

    /**
     * Puts a record. Returns its sequence number (its position since the start, 0 or more), or FULL (no slot, or the
     * byte cap would be passed: nothing was put) or CLOSED, both negative.
     */
    long put(Object item, RecordEncoder<?> enc, int estimate) {
        // Charge the bytes first, so that a refused record never takes a slot (the consumer stops at a slot that was
        // claimed and not yet filled).
        if (charged.addAndGet(estimate) > admitBytes) {
            charged.addAndGet(-estimate);
            return (head & 1) != 0 ? CLOSED : FULL;
        }
        long h;
        do {
            h = head;
            if ((h & 1) != 0 || (h >> 1) >= limit && (h >> 1) >= (limit = tail + mask + 1)) {
                charged.addAndGet(-estimate);
                return (h & 1) != 0 ? CLOSED : FULL;
            }
        } while (!HEAD.weakCompareAndSet(this, h, h + 2));
        long seq = h >> 1;
        int i = (int) seq & mask;
        estimates[i] = estimate;
        encoders[i] = enc;
        ITEMS.setRelease(items, i, item);
        return seq;
    }

    /** Refuses puts from now on; puts that claimed a slot before still complete. */
    void close() {
        long h;
        do {
            h = head;
        } while ((h & 1) == 0 && !HEAD.weakCompareAndSet(this, h, h | 1));
    }

    /** The number of slots claimed so far (the sequence number the next put would get). */
    long claimed() {
        return head >> 1;
    }

    /** The number of slots taken by the consumer so far. */
    long taken() {
        return tail;
    }

    /** Whether every claimed slot was taken. */
    boolean isEmpty() {
        return (head >> 1) == tail;
    }

    /** What the consumer does with one record: puts it in the queue, returning the bytes that charged. */
    interface Sink {
        long accept(Object item, RecordEncoder<?> enc);
    }

    /**
     * Takes up to max published records in order, handing each to sink. Stops at the first slot claimed but not
     * yet published. Consumer only. Returns the number of records taken.
     */
    int drain(Sink sink, int max) {
        long t = tail;
        int n = 0;
        long delta = 0;
        try {
            while (n < max) {
                int i = (int) t & mask;
                Object item = ITEMS.getAcquire(items, i);
                if (item == null) {
                    break;
                }
                RecordEncoder<?> enc = encoders[i];
                encoders[i] = null;
                ITEMS.set(items, i, null);
                // Into the queue before tail moves: taken() counts only records already in the queue.
                delta += sink.accept(item, enc) - estimates[i];
                t++;
                n++;
                TAIL.setRelease(this, t);
                if ((n & 63) == 0) {
                    // Estimates for costs every 64 records, not at each (the producers share the counter); until
                    // then a record counts twice, which only makes the cap stricter.
                    charged.addAndGet(delta);
                    delta = 0;
                }
            }
        } finally {
            charged.addAndGet(delta);
        }
        return n;
    }
}
