package org.logflux.agent;

import java.util.Arrays;

/**
 * Up to 100 encoded entries laid out as one batch line, ready to write:
 *
 * <pre>
 * {"version":"1.0","entries":[e0,e1,…]}\n{"version":"1.0","action":"ping"}\n
 * └──────── PREFIX ──────────┘          └──────────── SUFFIX (on seal) ────────┘
 * </pre>
 *
 * The ping after every batch lets the sender match the agent's answers to batches (see {@link Sender}). Entry i
 * spans {@code buf[starts[i], ends[i])}.
 */
final class Chunk {
    static final byte[] PREFIX = EntryEncoder.ascii("{\"version\":\"1.0\",\"entries\":[");
    static final byte[] SUFFIX = EntryEncoder.ascii("]}\n{\"version\":\"1.0\",\"action\":\"ping\"}\n");

    byte[] buf;
    int len;
    int[] starts = new int[100];
    int[] ends = new int[100];
    int count;
    long seq;
    /** Orders the halves of a split chunk, which keep its seq. */
    long part;
    long gen;
    /** Bytes charged to the queue. */
    long cost;
    boolean sealed;

    Chunk(int capacity) {
        buf = new byte[Math.max(capacity, 4096)];
    }

    void reset(long seq, long gen) {
        len = 0;
        count = 0;
        cost = 0;
        sealed = false;
        part = 0;
        this.seq = seq;
        this.gen = gen;
        ensure(PREFIX.length);
        System.arraycopy(PREFIX, 0, buf, 0, PREFIX.length);
        len = PREFIX.length;
    }

    void ensure(int more) {
        if (len + more > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + more));
        }
    }

    void append(EntryEncoder enc, int encLen) {
        ensure(encLen + 1 + SUFFIX.length);
        if (count > 0) {
            buf[len++] = ',';
        }
        addSlot();
        starts[count] = len;
        len = enc.copyTo(buf, len);
        ends[count++] = len;
    }

    void appendRaw(byte[] src, int off, int n) {
        ensure(n + 1 + SUFFIX.length);
        if (count > 0) {
            buf[len++] = ',';
        }
        addSlot();
        starts[count] = len;
        System.arraycopy(src, off, buf, len, n);
        len += n;
        ends[count++] = len;
    }

    private void addSlot() {
        if (count == starts.length) {
            starts = Arrays.copyOf(starts, count * 2);
            ends = Arrays.copyOf(ends, count * 2);
        }
    }

    void seal() {
        ensure(SUFFIX.length);
        System.arraycopy(SUFFIX, 0, buf, len, SUFFIX.length);
        len += SUFFIX.length;
        sealed = true;
    }

    /** Bytes of the batch line without the ping, for the byte bound of one batch. */
    int bodyLength() {
        return sealed ? len - SUFFIX.length : len;
    }
}
