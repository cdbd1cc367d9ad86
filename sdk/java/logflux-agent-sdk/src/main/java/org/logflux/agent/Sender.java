package org.logflux.agent;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.logflux.agent.internal.Json;

/**
 * The one thread ({@code logflux-sender}) that talks to the agent. It owns the connection, a non-blocking
 * {@link SocketChannel} watched by a {@link Selector}, so a single thread both writes batches and reads the agent's
 * answers line by line, and never blocks longer than a deadline.
 *
 * <p>How answers are matched to batches. The agent answers nothing to a good batch and at most one error to a bad one,
 * in the order of the messages on the connection. So every batch is written followed by a ping: an error that arrives
 * before the batch's pong is that batch's, and the pong says the agent has read it. A flush is answered after every
 * earlier message, so its answer confirms every batch ponged before it.
 *
 * <pre>
 * write:   batch₁ ping batch₂ ping flush batch₃ ping
 * answer:  pong  error₂ pong  flush-ok  pong
 * pending: [b₁ b₂ F b₃] → b₁ unconfirmed, b₂ error, F confirms b₁ …
 * </pre>
 *
 * <p>Application threads never touch the connection. They only queue entries and wake this thread through
 * {@link #wake()}, which calls {@link Selector#wakeup()} at most once per sleep of the sender.
 */
final class Sender implements Runnable {
    /** Batches written on one connection and not yet answered. */
    static final int MAX_PENDING = 32;

    static final byte[] FLUSH_LINE = EntryEncoder.ascii("{\"version\":\"1.0\",\"action\":\"flush\"}\n");

    private final LogfluxClient.Settings cfg;
    private final Ring ring;
    private final Queue q;
    private final Counters st;
    private final FallbackWriter fb;
    private final List<Endpoint> eps;
    private final byte[] authLine;
    private final Consumer<LogfluxException> onError;
    final Selector selector;
    final Thread thread;

    private final AtomicBoolean wakePending = new AtomicBoolean();
    private volatile boolean stopping;

    // Read by other threads (flush, stats).
    private final AtomicLong flushWant = new AtomicLong();
    /** A flush waits for the records before this ring sequence to be sealed into chunks. */
    private final AtomicLong sealWant = new AtomicLong();
    private volatile boolean probe;
    private final AtomicLong attempts = new AtomicLong();
    private volatile boolean down;
    private volatile boolean connected;
    private volatile LogfluxException lastError;

    // The sender thread's own.
    private Conn conn;
    private final Backoff backoff;
    private final Backoff throttle;
    private long downSince;
    private long nextDial;
    private long throttleUntil;
    private long nextTick;
    private String lastReported;
    private long dropsReported;
    private final long tickNanos;
    private long sealedUpTo;
    // Encoding records taken from the ring (the sender's own, or the closing thread's once the sender has stopped).
    private final EntryEncoder encoder = new EntryEncoder();
    private final byte[] sourceJson;
    private final Ring.Sink sink = this::encodeRecord;
    private String badRecord;

    Sender(LogfluxClient.Settings cfg, Ring ring, Queue q, Counters st, FallbackWriter fb, List<Endpoint> eps,
           String secret, byte[] sourceJson, Consumer<LogfluxException> onError) throws IOException {
        this.cfg = cfg;
        this.ring = ring;
        this.q = q;
        this.sourceJson = sourceJson;
        this.st = st;
        this.fb = fb;
        this.eps = eps;
        this.onError = onError;
        this.authLine = secret == null ? null : concat(
                EntryEncoder.ascii("{\"version\":\"1.0\",\"action\":\"authenticate\",\"shared_secret\":"),
                EntryEncoder.jsonString(secret), EntryEncoder.ascii("}\n"));
        this.backoff = new Backoff(cfg.minBackoffNanos, cfg.maxBackoffNanos);
        this.throttle = new Backoff(cfg.minBackoffNanos, cfg.maxBackoffNanos);
        this.tickNanos = cfg.flushIntervalNanos;
        this.selector = Selector.open();
        this.thread = new Thread(this, "logflux-sender");
        thread.setDaemon(true);
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int off = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, off, p.length);
            off += p.length;
        }
        return out;
    }

    void start() {
        thread.start();
    }

    /** Wakes the sender; cheap when it is already awake or already woken. */
    void wake() {
        if (!wakePending.get() && !wakePending.getAndSet(true)) { // a plain read first: no write while it is set
            selector.wakeup();
        }
    }

    /** Stops the sender: it puts back what its connection held into the queue and returns. */
    void stop() {
        stopping = true;
        selector.wakeup();
    }

    /** Asks for every record before ring sequence seq to be sealed into chunks (see {@link Queue#awaitSealed}). */
    void requestSeal(long seq) {
        sealWant.accumulateAndGet(seq, Math::max);
        wake();
    }

    /** Asks for every chunk up to generation gen to be confirmed, and for one connection attempt now if down. */
    long requestFlush(long gen) {
        flushWant.accumulateAndGet(gen, Math::max);
        if (!connected) {
            probe = true;
        }
        long n = attempts.get();
        wake();
        return n;
    }

    /** Whether a connection attempt after the first {@code after} ones failed with no connection open. */
    boolean downAfter(long after) {
        return down && attempts.get() > after;
    }

    boolean connected() {
        return connected;
    }

    LogfluxException lastError() {
        return lastError;
    }

    // --- the loop ---------------------------------------------------------------------------------------------

    @Override
    public void run() {
        nextTick = System.nanoTime() + tickNanos;
        try {
            while (!stopping) {
                wakePending.set(false);
                boolean progress = drainRing();
                long now = System.nanoTime();
                if (now - nextTick >= 0) {
                    q.sealIdle();
                    reportDrops();
                    nextTick = now + tickNanos;
                }
                long wait = nextTick - now;
                if (sealWant.get() > sealedUpTo) {
                    wait = Math.min(wait, 1_000_000); // a record it waits for is being put: look again soon
                }
                if (conn != null) {
                    progress |= readAnswers();
                    if (conn.dead != null) {
                        teardown(conn.dead);
                        continue;
                    }
                    progress |= writeSome(now);
                    if (conn.dead != null) {
                        teardown(conn.dead);
                        continue;
                    }
                    if (conn.out != null) {
                        wait = Math.min(wait, conn.writeStarted + cfg.writeTimeoutNanos - now);
                    } else if (throttleUntil - now > 0) {
                        wait = Math.min(wait, throttleUntil - now);
                    }
                } else if (q.sealedCount() > 0 || probe) {
                    if (probe || now - nextDial >= 0) {
                        probe = false;
                        dial();
                        continue;
                    }
                    if (spillNow(now)) {
                        spill(q.popAll());
                    }
                    wait = Math.min(wait, nextDial - now);
                }
                if (progress) {
                    continue;
                }
                sleep(wait);
            }
        } catch (Throwable t) {
            // A bug in the sender must not go unnoticed, nor take the application down.
            LogfluxException e = new LogfluxException(LogfluxException.Kind.PROTOCOL, null, "sender failed: " + t, t);
            lastError = e;
            report(e);
        } finally {
            if (conn != null) {
                teardown(null);
            }
            connected = false;
        }
    }

    private void sleep(long nanos) throws IOException {
        if (wakePending.get() || stopping) {
            return;
        }
        long ms = Math.max(1, (nanos + 999_999) / 1_000_000);
        selector.select(k -> { }, ms);
    }

    // --- taking records from the ring ---------------------------------------------------------------------------

    /** Records taken from the ring at most per loop, so answers and writes are not held up. */
    static final int DRAIN_MAX = 1024;

    /** Encodes what the ring holds into chunks, and seals for a flush that waits. Returns true if it took any. */
    private boolean drainRing() {
        if (ring.isEmpty() && sealWant.get() <= sealedUpTo) {
            return false;
        }
        int n;
        q.lockForPushes(); // one lock for the whole drain; flush and stats wait at most one drain
        try {
            n = ring.drain(sink, DRAIN_MAX);
        } finally {
            q.unlockAfterPushes();
        }
        long want = sealWant.get();
        if (want > sealedUpTo) {
            long taken = ring.taken();
            if (taken >= want) {
                long g = q.sealForFlush(taken);
                sealedUpTo = taken;
                if (g != 0) {
                    flushWant.accumulateAndGet(g, Math::max);
                }
            }
        }
        return n > 0;
    }

    /**
     * Takes every record left in the ring into chunks; for the closing thread once this thread has stopped (the ring
     * has one consumer). Waits a bounded time for records being put to appear.
     */
    void drainAfterStop() {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(1);
        while (!ring.isEmpty() && System.nanoTime() - deadline < 0) {
            if (ring.drain(sink, Integer.MAX_VALUE) == 0) {
                Thread.onSpinWait();
            }
        }
    }

    /** The ring's consumer: one record into the queue, encoded here when the caller deferred it. */
    private long encodeRecord(Object item, RecordEncoder<?> enc) {
        if (enc == null) {
            byte[] b = (byte[]) item; // encoded on the caller's thread
            return q.push(b, 0, b.length);
        }
        EntryEncoder e = encoder;
        e.reset();
        try {
            @SuppressWarnings("unchecked")
            RecordEncoder<Object> re = (RecordEncoder<Object>) enc;
            re.encode(item, e);
            e.finish(sourceJson);
        } catch (RuntimeException | Error x) {
            e.invalid = "the record encoder failed: " + x;
        }
        if (e.invalid == null && e.encodedLength() + Chunk.PREFIX.length + Chunk.SUFFIX.length > LogfluxClient.MAX_LINE_BYTES) {
            e.invalid = "the entry is longer than " + LogfluxClient.MAX_LINE_BYTES + " bytes";
        }
        long cost = 0;
        if (e.invalid != null) {
            st.drop(Counters.INVALID, 1);
            if (!e.invalid.equals(badRecord)) { // once per distinct problem
                badRecord = e.invalid;
                report(new LogfluxException(LogfluxException.Kind.DROPPED, null, "dropped an entry: " + e.invalid, null));
            }
        } else {
            cost = q.push(e);
        }
        if (e.main.b.length > 64 << 10 || e.meta.b.length > 64 << 10) {
            encoder.shrink(); // do not keep a huge buffer around
        }
        return cost;
    }

    // --- connecting -----------------------------------------------------------------------------------------------

    private void dial() {
        long deadline = System.nanoTime() + cfg.connectTimeoutNanos;
        List<String> errs = new ArrayList<>();
        LogfluxException failure = null;
        for (Endpoint ep : eps) {
            SocketChannel ch = null;
            try {
                ch = ep.unix ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
                ch.configureBlocking(false);
                SelectionKey key = ch.register(selector, 0);
                if (!ch.connect(ep.socketAddress())) {
                    key.interestOps(SelectionKey.OP_CONNECT);
                    while (!ch.finishConnect()) {
                        awaitReady(deadline, "connect");
                    }
                }
                Conn c = new Conn(ch, key);
                if (!ep.unix) {
                    authenticate(c, deadline, ep);
                }
                key.interestOps(SelectionKey.OP_READ);
                conn = c;
                attempts.incrementAndGet();
                st.connections.incrementAndGet();
                connected = true;
                down = false;
                backoff.reset();
                nextDial = 0;
                lastReported = null;
                q.signal();
                return;
            } catch (LogfluxException e) {
                closeQuietly(ch);
                failure = e; // the agent refused: trying another address would not help
                break;
            } catch (IOException | RuntimeException e) {
                closeQuietly(ch);
                errs.add(ep + ": " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            }
            if (stopping) {
                break;
            }
        }
        if (failure == null) {
            failure = new LogfluxException(LogfluxException.Kind.UNAVAILABLE, null,
                    "cannot connect to the agent: " + String.join("; ", errs), null);
        }
        attempts.incrementAndGet();
        if (stopping) {
            return; // interrupted by close: not a failure of the agent
        }
        st.dialFailures.incrementAndGet();
        lastError = failure;
        long now = System.nanoTime();
        if (!down) {
            down = true;
            downSince = now;
        }
        nextDial = now + backoff.nextNanos();
        reportOnce(failure);
        q.signal();
    }

    /** Waits for the channel's interest to be ready, or fails at the deadline or when stopping. */
    private void awaitReady(long deadline, String what) throws IOException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new IOException(what + " timed out");
        }
        if (stopping) {
            throw new IOException("client closed");
        }
        selector.select(k -> { }, Math.max(1, left / 1_000_000));
    }

    private void authenticate(Conn c, long deadline, Endpoint ep) throws IOException {
        ByteBuffer out = ByteBuffer.wrap(authLine);
        c.ch.write(out);
        while (out.hasRemaining()) {
            c.key.interestOps(SelectionKey.OP_WRITE);
            awaitReady(deadline, "authenticate");
            c.ch.write(out);
        }
        c.key.interestOps(SelectionKey.OP_READ);
        while (true) {
            byte[] line = c.readLine();
            if (line != null) {
                Map<String, Object> r = parse(line);
                Object status = r.get("status");
                if ("success".equals(status)) {
                    return;
                }
                if ("error".equals(status)) {
                    AgentError e = AgentError.of(r);
                    LogfluxException.Kind kind = e.code.startsWith("auth_")
                            ? LogfluxException.Kind.AUTH_FAILED : LogfluxException.Kind.UNAVAILABLE;
                    throw new LogfluxException(kind, e.code, ep + ": the agent refused authentication: " + e, null);
                }
                throw new IOException("unexpected answer to authenticate: " + new String(line, StandardCharsets.UTF_8));
            }
            if (c.eof()) {
                throw new IOException("the agent closed the connection during authentication");
            }
            awaitReady(deadline, "authenticate");
        }
    }

    private static void closeQuietly(SocketChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing more to do
            }
        }
    }

    /** Closes the connection and puts every chunk it had not got confirmed back in the queue. */
    private void teardown(LogfluxException cause) {
        Conn c = conn;
        conn = null;
        connected = false;
        c.key.cancel();
        closeQuietly(c.ch);
        List<Chunk> back = new ArrayList<>(c.unconfirmed);
        for (Pending p : c.pending) {
            if (p.chunk != null) {
                back.add(p.chunk);
            }
        }
        c.pending.clear();
        c.unconfirmed.clear();
        if (!back.isEmpty()) {
            if (cause != null) {
                st.retry("reconnect", back.size());
            }
            q.requeue(back);
        }
        if (cause != null) {
            lastError = cause;
            reportOnce(cause);
            // Reconnect at once: a restarted agent is usually back; failures then back off.
            nextDial = System.nanoTime();
        }
        q.signal();
    }

    // --- fallback ------------------------------------------------------------------------------------------------

    /** Whether queued chunks go to the fallback now: the agent is down for fallbackAfter, or the queue 3/4 full. */
    private boolean spillNow(long now) {
        if (fb == null || !down) {
            return false;
        }
        return now - downSince >= cfg.fallbackAfterNanos || q.bytes() * 4 >= q.maxBytes * 3;
    }

    /** Writes chunks to the fallback (or drops them as unsent, with none) and releases them. */
    void spill(List<Chunk> chunks) {
        for (Chunk c : chunks) {
            if (fb == null) {
                st.drop(Counters.UNSENT, c.count);
            } else {
                FallbackWriter.Result r = fb.write(c);
                st.fallback.addAndGet(r.written);
                if (c.count - r.written > 0) {
                    st.drop(r.dropReason, c.count - r.written);
                }
                if (r.error != null) {
                    lastError = r.error;
                    reportOnce(r.error);
                }
            }
            q.release(c);
        }
    }

    // --- writing ---------------------------------------------------------------------------------------------------

    /** Continues a partial write, or starts the next batch or flush. Returns true if it wrote anything. */
    private boolean writeSome(long now) {
        Conn c = conn;
        if (c.out != null) {
            return continueWrite(c, now);
        }
        if (throttleUntil - now > 0) {
            return false;
        }
        if (c.pending.size() < MAX_PENDING) {
            Chunk ch = q.pop();
            if (ch != null) {
                c.pending.add(new Pending(ch));
                if (!c.unflushed || ch.gen < c.unflushedGen) {
                    c.unflushedGen = ch.gen;
                }
                c.unflushed = true;
                c.unflushedBytes += ch.len;
                c.out = ByteBuffer.wrap(ch.buf, 0, ch.len);
                c.writeStarted = now;
                continueWrite(c, now);
                return true;
            }
        }
        if (c.unflushed && c.pending.size() < MAX_PENDING && flushDue(c, now)) {
            c.pending.add(Pending.FLUSH);
            c.unflushed = false;
            c.unflushedBytes = 0;
            c.lastFlush = now;
            c.out = ByteBuffer.wrap(FLUSH_LINE);
            c.writeStarted = now;
            continueWrite(c, now);
            return true;
        }
        return false;
    }

    private boolean continueWrite(Conn c, long now) {
        int n;
        try {
            n = c.ch.write(c.out);
        } catch (IOException e) {
            c.fail(LogfluxException.Kind.UNAVAILABLE, "writing to the agent: " + e.getMessage(), e);
            return false;
        }
        if (!c.out.hasRemaining()) {
            c.out = null;
            c.key.interestOps(SelectionKey.OP_READ);
            return true;
        }
        if (now - c.writeStarted > cfg.writeTimeoutNanos) {
            c.fail(LogfluxException.Kind.UNAVAILABLE, "the agent took no data for the write timeout", null);
            return false;
        }
        c.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
        return n > 0;
    }

    /**
     * Whether to ask the agent to confirm what this connection sent: a flush waits for it (and nothing it waits for is
     * left to send), or much is unconfirmed, or a flush interval has passed.
     */
    private boolean flushDue(Conn c, long now) {
        long want = flushWant.get();
        if (want >= c.unflushedGen && q.oldestSealedGen() > want) {
            return true;
        }
        long limit = Math.max(q.batchBytes, q.maxBytes / 4);
        return c.unflushedBytes >= limit || now - c.lastFlush >= tickNanos;
    }

    // --- reading --------------------------------------------------------------------------------------------------

    /** Reads and acts on every complete answer line available now. Returns true if it read any. */
    private boolean readAnswers() {
        Conn c = conn;
        boolean any = false;
        try {
            byte[] line;
            while ((line = c.readLine()) != null) {
                any = true;
                if (line.length == 0) {
                    continue;
                }
                match(c, line);
                if (c.dead != null) {
                    return true;
                }
            }
            if (c.eof()) {
                c.fail(LogfluxException.Kind.UNAVAILABLE, "the agent closed the connection", null);
            }
        } catch (IOException e) {
            c.fail(LogfluxException.Kind.UNAVAILABLE, "reading from the agent: " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            c.fail(LogfluxException.Kind.PROTOCOL, "unreadable answer from the agent: " + e.getMessage(), e);
        }
        return any;
    }

    private static Map<String, Object> parse(byte[] line) {
        return Json.parseObject(line, 0, line.length);
    }

    /** Applies one answer to the oldest pending item. */
    private void match(Conn c, byte[] line) {
        String status;
        Map<String, Object> r = null;
        if (line == LineReader.PONG) {
            status = "pong";
        } else {
            r = parse(line);
            Object s = r.get("status");
            status = s instanceof String ? (String) s : "";
        }
        Pending head = c.pending.peekFirst();
        if (head == null) {
            if ("error".equals(status)) {
                // Unsolicited: the agent is about to close the connection (unavailable, or an auth problem).
                AgentError e = AgentError.of(r);
                c.fail(e.code.startsWith("auth_") ? LogfluxException.Kind.AUTH_FAILED : LogfluxException.Kind.UNAVAILABLE,
                        "the agent answered " + e, null);
            }
            return;
        }
        switch (status) {
            case "pong":
                if (head.chunk == null) {
                    c.fail(LogfluxException.Kind.PROTOCOL, "the agent's answers do not match what was sent", null);
                    return;
                }
                c.pending.pollFirst();
                settleBatch(c, head);
                break;
            case "success":
                if (!"flush".equals(r.get("action")) || head.chunk != null) {
                    c.fail(LogfluxException.Kind.PROTOCOL, "the agent's answers do not match what was sent", null);
                    return;
                }
                c.pending.pollFirst();
                confirm(c);
                break;
            case "error":
                if (head.chunk == null) {
                    // An agent without the flush extension (unknown_action): the batches were accepted, but nothing
                    // more can be known; take them as confirmed rather than resend them forever.
                    c.pending.pollFirst();
                    confirm(c);
                    AgentError e = AgentError.of(r);
                    lastError = new LogfluxException(LogfluxException.Kind.REJECTED, e.code, "flush: " + e, null);
                    return;
                }
                if (head.error == null) {
                    head.error = AgentError.of(r);
                }
                break;
            default:
                break;
        }
    }

    private void confirm(Conn c) {
        for (Chunk ch : c.unconfirmed) {
            st.confirmed.addAndGet(ch.count);
            q.release(ch);
        }
        c.unconfirmed.clear();
    }

    /** Acts on a batch the agent has read: accepted, partly refused, to retry, or refused. */
    private void settleBatch(Conn c, Pending p) {
        Chunk ch = p.chunk;
        AgentError e = p.error;
        if (e == null) {
            st.sent.addAndGet(ch.count);
            c.unconfirmed.add(ch);
            throttle.reset();
            return;
        }
        switch (e.code) {
            case "invalid_entry":
                if (e.indexes.length > 0) {
                    // The valid entries were accepted.
                    int bad = badIndexes(e, ch.count);
                    st.reject(e.code, bad);
                    st.sent.addAndGet(ch.count - bad);
                    c.unconfirmed.add(ch);
                    reject(e, bad);
                    return;
                }
                break;
            case "queue_full":
                // Nothing of the batch was taken; send it again later.
                st.retry("queue_full", 1);
                throttleUntil = System.nanoTime() + throttle.nextNanos();
                q.requeue(List.of(ch));
                return;
            case "unavailable":
                st.retry("unavailable", 1);
                q.requeue(List.of(ch));
                return;
            case "message_too_large":
            case "batch_too_large":
                if (ch.count > 1) {
                    st.retry("split", 1);
                    q.splitAndRequeue(ch);
                    q.release(ch);
                    return;
                }
                break;
            default:
                break;
        }
        st.reject(e.code, ch.count);
        reject(e, ch.count);
        q.release(ch);
    }

    private void reject(AgentError e, int n) {
        LogfluxException x = new LogfluxException(LogfluxException.Kind.REJECTED, e.code,
                "the agent refused " + n + " entries: " + e, null);
        lastError = x;
        report(x);
    }

    /** Counts the distinct entries an invalid_entry error names. */
    static int badIndexes(AgentError e, int n) {
        BitSet seen = new BitSet(n);
        for (int i : e.indexes) {
            if (i >= 0 && i < n) {
                seen.set(i);
            }
        }
        int k = seen.cardinality();
        return k == 0 ? n : k;
    }

    // --- reporting ------------------------------------------------------------------------------------------------

    private void report(LogfluxException e) {
        if (onError == null) {
            return;
        }
        try {
            onError.accept(e);
        } catch (Throwable ignored) {
            // the callback's own failure must not stop delivery
        }
    }

    /** Reports a failure once, until the agent is reached again. */
    private void reportOnce(LogfluxException e) {
        String key = e.kind() + ":" + e.getMessage();
        if (!key.equals(lastReported)) {
            lastReported = key;
            report(e);
        }
    }

    /** Reports entries dropped since the last report, at most once per flush interval. */
    private void reportDrops() {
        long total = st.droppedTotal();
        if (total > dropsReported) {
            long n = total - dropsReported;
            dropsReported = total;
            report(new LogfluxException(LogfluxException.Kind.DROPPED, null,
                    n + " entries dropped since the last report; totals by reason: " + st.droppedMap(), null));
        }
    }

    // --- per-connection state -------------------------------------------------------------------------------------

    /** A batch or a flush written and not yet answered. */
    static final class Pending {
        static final Pending FLUSH = new Pending(null);
        final Chunk chunk;
        AgentError error;

        Pending(Chunk chunk) {
            this.chunk = chunk;
        }
    }

    /** An error answer of the agent. */
    static final class AgentError {
        final String code;
        final String message;
        final int[] indexes;

        AgentError(String code, String message, int[] indexes) {
            this.code = code;
            this.message = message;
            this.indexes = indexes;
        }

        static AgentError of(Map<String, Object> r) {
            String code = r.get("code") instanceof String ? (String) r.get("code") : "unknown";
            String msg = r.get("message") instanceof String ? (String) r.get("message") : "";
            int[] idx = new int[0];
            if (r.get("errors") instanceof List) {
                List<?> errs = (List<?>) r.get("errors");
                idx = new int[errs.size()];
                int k = 0;
                for (Object o : errs) {
                    Object i = o instanceof Map ? ((Map<?, ?>) o).get("index") : null;
                    idx[k++] = i instanceof Long ? (int) (long) (Long) i : -1;
                }
            }
            return new AgentError(code, msg, idx);
        }

        @Override
        public String toString() {
            return code + (message.isEmpty() ? "" : ": " + message);
        }
    }

    /** One connection to the agent. */
    final class Conn {
        final SocketChannel ch;
        final SelectionKey key;
        final ArrayDeque<Pending> pending = new ArrayDeque<>();
        final List<Chunk> unconfirmed = new ArrayList<>();
        ByteBuffer out;
        long writeStarted;
        boolean unflushed;
        long unflushedGen;
        long unflushedBytes;
        long lastFlush = System.nanoTime();
        LogfluxException dead;
        final LineReader lines = new LineReader();

        Conn(SocketChannel ch, SelectionKey key) {
            this.ch = ch;
            this.key = key;
        }

        void fail(LogfluxException.Kind kind, String message, Throwable cause) {
            if (dead == null) {
                dead = new LogfluxException(kind, null, message, cause);
            }
        }

        byte[] readLine() throws IOException {
            return lines.readLine(ch);
        }

        boolean eof() {
            return lines.eof();
        }
    }
}
