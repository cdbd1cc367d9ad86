package org.logflux.agent;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Sends entries to the local LogFlux agent. Safe for use by many threads, virtual threads included.
 *
 * <pre>{@code
 * try (LogfluxClient client = LogfluxClient.builder().source("billing").build()) {
 *     client.log(Entry.info("charged").metadata("orderId", "42"));
 *     client.flush(Duration.ofSeconds(5));   // true once the agent confirmed everything logged before
 * }
 * }</pre>
 *
 * <p>Lifecycle:
 * <ol>
 *   <li>{@link Builder#build()} checks the settings (every problem at once) and starts the sender thread
 *       ({@code logflux-sender}, a daemon); it does not connect yet.</li>
 *   <li>{@link #log(Entry)} checks the entry, copies it and puts the copy into a lock-free ring ({@link Ring}); the
 *       sender encodes it into the queue. Ring and queue share one cap in bytes. It never waits on I/O and never throws
 *       for transport problems: a full queue drops the entry and counts it. Framework integrations hand over their
 *       own event objects the same way ({@link #log(Object, int, RecordEncoder)}).</li>
 *   <li>The sender writes batches of at most 100 entries, reads the agent's answers line by line and reconnects
 *       with capped exponential backoff and jitter.</li>
 *   <li>{@link #flush(Duration)} returns true once the agent confirmed, with the Agent API's {@code flush} action,
 *       that everything logged before is durable.</li>
 *   <li>{@link #close()} flushes (bounded), stops the sender and writes what is left to the fallback, if any.
 *       Closing twice is harmless. A JVM shutdown hook (on by default) closes the client at exit.</li>
 * </ol>
 *
 * <p>No lock and no {@code synchronized} is taken on the path of {@code log}: one compare-and-set claims a slot in the
 * ring. {@code flush} and {@code close} wait on a {@link java.util.concurrent.locks.ReentrantLock}'s condition, so
 * virtual threads do not pin.
 */
public final class LogfluxClient implements AutoCloseable {
    /** Longest line the SDK writes; well under the agent's default 16 MiB. */
    static final int MAX_LINE_BYTES = 15 << 20;

    private final Settings cfg;
    private final Queue queue;
    private final Ring ring;
    private final Counters st = new Counters();
    private final Sender sender;
    private final FallbackWriter fallback;
    private final byte[] sourceJson;
    private final AtomicReferenceArray<EntryEncoder> encoders = new AtomicReferenceArray<>(16);
    private final AtomicBoolean closing = new AtomicBoolean();
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile boolean closeResult;
    private final Thread hook;

    private LogfluxClient(Settings cfg, List<Endpoint> eps, String secret) {
        this.cfg = cfg;
        this.queue = new Queue(cfg.queueBytes, cfg.batchBytes);
        this.ring = new Ring(Ring.slotsFor(cfg.queueBytes), queue);
        this.fallback = cfg.fallback == Fallback.NONE ? null
                : new FallbackWriter(cfg.fallback, cfg.fallbackPath, cfg.fallbackMaxBytes, cfg.stderr);
        this.sourceJson = EntryEncoder.jsonString(cfg.source);
        try {
            this.sender = new Sender(cfg, ring, queue, st, fallback, eps, secret, sourceJson, cfg.onError);
        } catch (IOException e) {
            throw new UncheckedIOException("logflux: cannot open a selector", e);
        }
        sender.start();
        if (cfg.shutdownHook) {
            hook = new Thread(() -> close(cfg.shutdownTimeout), "logflux-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
        } else {
            hook = null;
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The source named in entries that have none of their own. */
    public String source() {
        return cfg.source;
    }

    /**
     * Queues one entry; unset fields take defaults (see {@link Entry}). Never waits on I/O and never throws for
     * transport problems. Returns false when the entry was dropped (queue full, client closed, or an entry the agent
     * would refuse, such as an empty payload), which {@link Stats#dropped()} counts.
     */
    public boolean log(Entry entry) {
        Objects.requireNonNull(entry, "entry");
        if (entry.invalidReason() != null) {
            st.drop(Counters.INVALID, 1);
            return false;
        }
        // The sender encodes a copy, so the caller may change the entry at once.
        Entry snap = entry.snapshot();
        return enqueue(snap, Entry.SNAPSHOT_ENCODER, snap.estimatedBytes());
    }

    /**
     * Queues a record to be encoded later, on the sender thread, by encoder: what a framework integration uses to keep
     * JSON work off the application thread (see {@link RecordEncoder}). The record must not change afterwards (capture
     * everything the encoder reads, as Logback's {@code prepareForDeferredProcessing} does). estimatedBytes, the size
     * of the record's own text in JSON, is charged to the byte-bounded queue until the record is encoded, with the
     * fields every entry has and 256 bytes for the record object; the encoded size is charged from then on. Like
     * {@link #log(Entry)}, never waits on I/O and never throws for transport problems; returns false when the record
     * was dropped (queue full, client closed).
     */
    public <T> boolean log(T record, int estimatedBytes, RecordEncoder<? super T> encoder) {
        Objects.requireNonNull(record, "record");
        Objects.requireNonNull(encoder, "encoder");
        return enqueue(record, encoder, Math.max(0, estimatedBytes));
    }

    /** Starts an entry of type LOG for a framework integration; see {@link EntryEncoder}. */
    public EntryEncoder encoder(Level level, long epochSecond, int nanoOfSecond) {
        return encoder(level, EntryType.LOG, epochSecond, nanoOfSecond);
    }

    /** Starts an entry for a framework integration; finish it with {@link #log(EntryEncoder)}. */
    public EntryEncoder encoder(Level level, EntryType type, long epochSecond, int nanoOfSecond) {
        EntryEncoder e = borrow();
        e.begin(type, level, epochSecond, nanoOfSecond);
        return e;
    }

    /**
     * Queues the entry an encoder holds (encoded on the caller's thread; {@link #log(Object, int, RecordEncoder)}
     * defers that work to the sender) and takes the encoder back. Like {@link #log(Entry)}, never throws.
     */
    public boolean log(EntryEncoder enc) {
        try {
            enc.finish(sourceJson);
            if (enc.invalid != null || enc.encodedLength() + Chunk.PREFIX.length + Chunk.SUFFIX.length > MAX_LINE_BYTES) {
                st.drop(Counters.INVALID, 1);
                return false;
            }
            byte[] b = enc.toBytes();
            return enqueue(b, null, b.length);
        } finally {
            giveBack(enc);
        }
    }

    /**
     * The fields every entry has, as the encoder writes them (with the longest timestamp and the default source), and
     * the queue's overheads per entry and per chunk (a hundredth of it: a chunk holds up to 100 entries; the ring keeps
     * one chunk's overhead of the cap free for the chunk being filled). An estimate above the encoded size only makes
     * the cap stricter while the entry waits in the ring.
     */
    private static final int FIXED_ESTIMATE = "{\"entryType\":1,\"logLevel\":7,\"timestamp\":\"2026-01-01T00:00:00.123456789Z\",\"source\":,\"payload\":\"\",\"metadata\":{}}".length()
            + 1 + Queue.ENTRY_OVERHEAD + Queue.CHUNK_OVERHEAD / Queue.MAX_BATCH_ENTRIES + 1;

    /**
     * The heap a record holds while it waits in the ring besides its strings: a framework's event object and its
     * small parts (a Logback LoggingEvent with its argument array and Instant is about this), or an Entry's copy.
     * The cap is about memory, and a record is not its JSON until the sender has encoded it.
     */
    static final int RECORD_HEAP_BYTES = 256;

    /** Puts a record in the ring; a null encoder means item is an entry's JSON already. */
    private boolean enqueue(Object item, RecordEncoder<?> enc, int estimatedBytes) {
        int est = enc == null ? estimatedBytes + Queue.ENTRY_OVERHEAD + Queue.CHUNK_OVERHEAD / Queue.MAX_BATCH_ENTRIES + 2
                : estimatedBytes + FIXED_ESTIMATE + sourceJson.length + RECORD_HEAP_BYTES;
        long r = ring.put(item, enc, est);
        if (r >= 0) {
            if ((r & (WAKE_EVERY - 1)) == 0) {
                sender.wake();
            }
            return true;
        }
        if (r == Ring.CLOSED) {
            st.drop(Counters.CLOSED, 1);
            return false;
        }
        st.drop(Counters.QUEUE_FULL, 1);
        sender.wake();
        return false;
    }

    /** Application threads wake the sender once per this many records (a power of two); its tick takes the rest. */
    static final int WAKE_EVERY = 64;

    private EntryEncoder borrow() {
        int n = encoders.length();
        int start = (int) Thread.currentThread().getId() & (n - 1);
        for (int i = 0; i < n; i++) {
            int k = (start + i) & (n - 1);
            EntryEncoder e = encoders.get(k);
            if (e != null && encoders.compareAndSet(k, e, null)) {
                return e;
            }
        }
        return new EntryEncoder();
    }

    private void giveBack(EntryEncoder e) {
        if (e.main.b.length > 64 << 10 || e.meta.b.length > 64 << 10) {
            return; // do not keep a huge buffer around
        }
        int n = encoders.length();
        int start = (int) Thread.currentThread().getId() & (n - 1);
        for (int i = 0; i < n; i++) {
            int k = (start + i) & (n - 1);
            if (encoders.get(k) == null && encoders.compareAndSet(k, null, e)) {
                return;
            }
        }
    }

    /**
     * Returns true once the agent has confirmed, with the Agent API's {@code flush} action, that every entry logged
     * before the call is durable (entries the agent refused or that went to the fallback count as done). Returns false
     * when the timeout passes first, when the agent cannot be reached (one connection attempt is made at once; the
     * entries stay queued, see {@link Stats#lastError()}), or after close.
     */
    public boolean flush(Duration timeout) {
        if (closing.get()) {
            return false;
        }
        return doFlush(timeout);
    }

    private boolean doFlush(Duration timeout) {
        long deadline = System.nanoTime() + Math.max(0, timeout.toNanos());
        long seq = ring.claimed();
        long gen;
        try {
            if (ring.taken() >= seq) {
                gen = queue.sealForFlush(); // everything logged before is in the queue already
            } else {
                // The sender seals once it has taken every record logged before this call from the ring.
                sender.requestSeal(seq);
                gen = queue.awaitSealed(seq, deadline, () -> !sender.thread.isAlive());
                if (gen < 0) {
                    return false;
                }
            }
            if (gen == 0) {
                return true;
            }
            long attempts = sender.requestFlush(gen);
            return queue.awaitDone(gen, deadline, () -> sender.downAfter(attempts) || !sender.thread.isAlive());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Closes with the builder's shutdown timeout (default 5 s). */
    @Override
    public void close() {
        close(cfg.shutdownTimeout);
    }

    /**
     * Flushes (bounded by timeout), stops the sender and closes the connection. Entries still unconfirmed then go to
     * the fallback, or are dropped and counted as {@code unsent} without one. Returns true if everything logged was
     * confirmed by the agent. Calling it again (or from several threads) waits for the first call and returns its
     * result.
     */
    public boolean close(Duration timeout) {
        if (!closing.compareAndSet(false, true)) {
            try {
                closed.await(timeout.toNanos() + TimeUnit.SECONDS.toNanos(1), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return closeResult;
        }
        try {
            ring.close();
            boolean ok = doFlush(timeout);
            sender.stop();
            try {
                // The sender stops within one loop: its waits are bounded and it checks the stop flag.
                sender.thread.join(TimeUnit.NANOSECONDS.toMillis(cfg.connectTimeoutNanos) + 5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (!sender.thread.isAlive()) {
                sender.drainAfterStop(); // this thread is now the ring's only consumer
                List<Chunk> rest = queue.popAll();
                if (!rest.isEmpty()) {
                    ok = false;
                    sender.spill(rest);
                }
            }
            try {
                sender.selector.close();
            } catch (IOException e) {
                // nothing more to do
            }
            if (fallback != null) {
                fallback.close();
            }
            removeHook();
            closeResult = ok;
            return ok;
        } finally {
            closed.countDown();
        }
    }

    private void removeHook() {
        if (hook == null || Thread.currentThread() == hook) {
            return;
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // the JVM is shutting down: the hook is running or done
        }
    }

    /** A snapshot of the counters. */
    public Stats stats() {
        long[] u = queue.usage();
        long inRing = Math.max(0, ring.claimed() - ring.taken());
        return new Stats(u[2] + inRing, u[0] + inRing, u[1], st.sent.get(), st.confirmed.get(), st.fallback.get(), st.droppedMap(),
                st.rejectedMap(), st.retriesMap(), st.connections.get(), sender.connected(), st.dialFailures.get(),
                sender.lastError());
    }

    // --- settings ----------------------------------------------------------------------------------------------------

    /** The validated settings with their defaults filled in. */
    static final class Settings {
        String source;
        long queueBytes;
        int batchBytes;
        long flushIntervalNanos;
        long connectTimeoutNanos;
        long writeTimeoutNanos;
        long minBackoffNanos;
        long maxBackoffNanos;
        Fallback fallback;
        Path fallbackPath;
        long fallbackMaxBytes;
        long fallbackAfterNanos;
        boolean shutdownHook;
        Duration shutdownTimeout;
        Consumer<LogfluxException> onError;
        OutputStream stderr;
    }

    /**
     * Settings for a client. Every setting has a default; {@link #build()} reports every problem at once.
     * The agent's address is found in this order: {@link #address}, else the environment variable
     * {@code LOGFLUX_AGENT_ADDR}, else {@code /tmp/logflux-agent.sock}, then {@code /var/run/logflux-agent/agent.sock}
     * (both tried at each connection attempt).
     */
    public static final class Builder {
        public static final long DEFAULT_QUEUE_BYTES = 8L << 20;
        public static final int DEFAULT_BATCH_BYTES = 1 << 20;
        public static final Duration DEFAULT_FLUSH_INTERVAL = Duration.ofMillis(500);
        public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(2);
        public static final Duration DEFAULT_WRITE_TIMEOUT = Duration.ofSeconds(10);
        public static final Duration DEFAULT_MIN_BACKOFF = Duration.ofMillis(50);
        public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(10);
        public static final long DEFAULT_FALLBACK_MAX_BYTES = 64L << 20;
        public static final Duration DEFAULT_FALLBACK_AFTER = Duration.ofSeconds(5);
        public static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(5);
        static final long MIN_QUEUE_BYTES = 64 << 10;

        private String address;
        private String sharedSecret;
        private String source;
        private long queueBytes;
        private int batchBytes;
        private Duration flushInterval = DEFAULT_FLUSH_INTERVAL;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        private Duration writeTimeout = DEFAULT_WRITE_TIMEOUT;
        private Duration minBackoff = DEFAULT_MIN_BACKOFF;
        private Duration maxBackoff = DEFAULT_MAX_BACKOFF;
        private Fallback fallback = Fallback.NONE;
        private Path fallbackPath;
        private long fallbackMaxBytes = DEFAULT_FALLBACK_MAX_BYTES;
        private Duration fallbackAfter = DEFAULT_FALLBACK_AFTER;
        private boolean shutdownHook = true;
        private Duration shutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT;
        private Consumer<LogfluxException> onError;
        private Function<String, String> env = System::getenv;
        private OutputStream stderr = System.err;

        Builder() {
        }

        /** {@code unix:///path/agent.sock} or {@code tcp://host:port}. Default: discovery (see the class comment). */
        public Builder address(String address) {
            this.address = address;
            return this;
        }

        /** Authenticates TCP connections (at least 32 characters on the agent's side). Default: LOGFLUX_SHARED_SECRET. */
        public Builder sharedSecret(String sharedSecret) {
            this.sharedSecret = sharedSecret;
            return this;
        }

        /** Names this program in entries that have no source of their own; at most 256 characters. Default: the main class or jar name. */
        public Builder source(String source) {
            this.source = source;
            return this;
        }

        /** Caps the memory held by entries not yet confirmed by the agent. Default 8 MiB, at least 64 KiB. */
        public Builder queueBytes(long queueBytes) {
            this.queueBytes = queueBytes;
            return this;
        }

        /** Caps one batch line (a batch also holds at most 100 entries). Default 1 MiB (at most a quarter of the queue). */
        public Builder batchBytes(int batchBytes) {
            this.batchBytes = batchBytes;
            return this;
        }

        /** The longest an entry waits before its batch is sent, and how often the SDK asks the agent to confirm. Default 500 ms. */
        public Builder flushInterval(Duration flushInterval) {
            this.flushInterval = flushInterval;
            return this;
        }

        /** Bounds connecting and authenticating. Default 2 s. */
        public Builder connectTimeout(Duration connectTimeout) {
            this.connectTimeout = connectTimeout;
            return this;
        }

        /** A connection that cannot take a batch within it is dropped and its entries resent. Default 10 s. */
        public Builder writeTimeout(Duration writeTimeout) {
            this.writeTimeout = writeTimeout;
            return this;
        }

        /** Bounds of the exponential backoff with full jitter between failed connection attempts. Defaults 50 ms and 10 s. */
        public Builder backoff(Duration min, Duration max) {
            this.minBackoff = min;
            this.maxBackoff = max;
            return this;
        }

        /** Where entries go when the agent stays unreachable. Default {@link Fallback#NONE}. */
        public Builder fallback(Fallback fallback) {
            this.fallback = fallback;
            return this;
        }

        /** The {@link Fallback#FILE} file. Default: logflux-fallback.ndjson in java.io.tmpdir. */
        public Builder fallbackPath(Path fallbackPath) {
            this.fallbackPath = fallbackPath;
            return this;
        }

        /** Caps the fallback file; entries that do not fit are dropped (fallback_full). Default 64 MiB. */
        public Builder fallbackMaxBytes(long fallbackMaxBytes) {
            this.fallbackMaxBytes = fallbackMaxBytes;
            return this;
        }

        /** How long the agent must stay unreachable before entries go to the fallback (sooner when the queue is 3/4 full). Default 5 s. */
        public Builder fallbackAfter(Duration fallbackAfter) {
            this.fallbackAfter = fallbackAfter;
            return this;
        }

        /** Whether a JVM shutdown hook closes the client (bounded by the shutdown timeout). Default true. */
        public Builder shutdownHook(boolean shutdownHook) {
            this.shutdownHook = shutdownHook;
            return this;
        }

        /** Bounds {@link #close()} and the shutdown hook. Default 5 s. */
        public Builder shutdownTimeout(Duration shutdownTimeout) {
            this.shutdownTimeout = shutdownTimeout;
            return this;
        }

        /**
         * Called on the sender thread for connection failures (once per distinct failure until the agent is reached
         * again), refused secrets, entries the agent refused, fallback errors and drops (at most once per flush
         * interval). Never called on an application thread; its exceptions are ignored.
         */
        public Builder onError(Consumer<LogfluxException> onError) {
            this.onError = onError;
            return this;
        }

        /** Test seam: the environment. */
        Builder env(Map<String, String> env) {
            this.env = env::get;
            return this;
        }

        /** Test seam: standard error, for {@link Fallback#STDERR}. */
        Builder stderr(OutputStream stderr) {
            this.stderr = stderr;
            return this;
        }

        /**
         * Checks the settings and starts the client. Fails with an {@link IllegalArgumentException} that lists every
         * problem; an unreachable agent is not an error here.
         */
        public LogfluxClient build() {
            List<String> problems = new ArrayList<>();
            List<Endpoint> eps = null;
            try {
                eps = Endpoint.discover(address, env);
            } catch (IllegalArgumentException e) {
                problems.add(e.getMessage());
            }
            String secret = sharedSecret != null && !sharedSecret.isEmpty() ? sharedSecret : env.apply(Endpoint.ENV_SECRET);
            if (secret != null && secret.isEmpty()) {
                secret = null;
            }
            if (eps != null && eps.size() == 1 && !eps.get(0).unix && secret == null) {
                problems.add(eps.get(0) + " needs a shared secret (sharedSecret or " + Endpoint.ENV_SECRET + ")");
            }
            Settings s = new Settings();
            s.source = source == null || source.isEmpty() ? programName() : source;
            if (s.source.codePointCount(0, s.source.length()) > EntryEncoder.MAX_SOURCE_CHARS) {
                problems.add("source is longer than 256 characters");
            }
            s.queueBytes = queueBytes == 0 ? DEFAULT_QUEUE_BYTES : queueBytes;
            if (s.queueBytes < MIN_QUEUE_BYTES) {
                problems.add("queueBytes " + queueBytes + " is less than 64 KiB");
            }
            s.batchBytes = batchBytes == 0 ? (int) Math.min(DEFAULT_BATCH_BYTES, s.queueBytes / 4) : batchBytes;
            if (batchBytes < 0 || batchBytes > MAX_LINE_BYTES) {
                problems.add("batchBytes " + batchBytes + " is not between 1 and 15 MiB");
            } else if (s.batchBytes > s.queueBytes) {
                problems.add("batchBytes " + batchBytes + " is more than queueBytes " + s.queueBytes);
            }
            s.flushIntervalNanos = positive("flushInterval", flushInterval, problems);
            s.connectTimeoutNanos = positive("connectTimeout", connectTimeout, problems);
            s.writeTimeoutNanos = positive("writeTimeout", writeTimeout, problems);
            s.minBackoffNanos = positive("backoff min", minBackoff, problems);
            s.maxBackoffNanos = positive("backoff max", maxBackoff, problems);
            if (s.maxBackoffNanos < s.minBackoffNanos) {
                problems.add("backoff max " + maxBackoff + " is less than min " + minBackoff);
            }
            s.fallback = fallback;
            if (fallback == null) {
                problems.add("fallback is null");
            }
            s.fallbackPath = fallbackPath != null ? fallbackPath
                    : Path.of(System.getProperty("java.io.tmpdir"), "logflux-fallback.ndjson");
            s.fallbackMaxBytes = fallbackMaxBytes;
            if (fallbackMaxBytes <= 0) {
                problems.add("fallbackMaxBytes " + fallbackMaxBytes + " is not positive");
            }
            s.fallbackAfterNanos = positive("fallbackAfter", fallbackAfter, problems);
            s.shutdownHook = shutdownHook;
            s.shutdownTimeout = shutdownTimeout;
            positive("shutdownTimeout", shutdownTimeout, problems);
            s.onError = onError;
            s.stderr = stderr;
            if (!problems.isEmpty()) {
                throw new IllegalArgumentException("logflux: " + String.join("; ", problems));
            }
            return new LogfluxClient(s, eps, secret);
        }

        private static long positive(String name, Duration d, List<String> problems) {
            if (d == null || d.isNegative() || d.isZero()) {
                problems.add(name + " " + d + " is not a positive duration");
                return 1;
            }
            return d.toNanos();
        }

        /** The main class's simple name or the jar's base name, from the java launcher's command; else "java-app". */
        static String programName() {
            String cmd = System.getProperty("sun.java.command", "");
            String first = cmd.trim().split("\\s+", 2)[0];
            if (first.endsWith(".jar")) {
                first = Path.of(first).getFileName().toString();
                first = first.substring(0, first.length() - 4);
            } else {
                first = first.substring(first.lastIndexOf('.') + 1);
                first = first.substring(first.lastIndexOf('/') + 1);
            }
            if (first.isEmpty()) {
                return "java-app";
            }
            return first.length() > EntryEncoder.MAX_SOURCE_CHARS ? first.substring(0, EntryEncoder.MAX_SOURCE_CHARS) : first;
        }
    }
}
