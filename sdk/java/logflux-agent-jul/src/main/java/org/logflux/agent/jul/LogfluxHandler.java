package org.logflux.agent.jul;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.logging.ErrorManager;
import java.util.logging.Filter;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.SimpleFormatter;
import org.logflux.agent.EntryEncoder;
import org.logflux.agent.Fallback;
import org.logflux.agent.LogfluxClient;
import org.logflux.agent.LogfluxException;
import org.logflux.agent.RecordEncoder;

/**
 * A {@code java.util.logging} handler that sends records to the local LogFlux agent. Configured from
 * {@code logging.properties} (every key optional):
 *
 * <pre>
 * handlers = org.logflux.agent.jul.LogfluxHandler
 * org.logflux.agent.jul.LogfluxHandler.level = INFO
 * org.logflux.agent.jul.LogfluxHandler.source = billing
 * org.logflux.agent.jul.LogfluxHandler.address = unix:///tmp/logflux-agent.sock
 * org.logflux.agent.jul.LogfluxHandler.sharedSecret = …
 * org.logflux.agent.jul.LogfluxHandler.queueBytes = 8388608
 * org.logflux.agent.jul.LogfluxHandler.flushIntervalMillis = 500
 * org.logflux.agent.jul.LogfluxHandler.fallback = file
 * org.logflux.agent.jul.LogfluxHandler.fallbackPath = /var/tmp/app-fallback.ndjson
 * org.logflux.agent.jul.LogfluxHandler.shutdownTimeoutMillis = 5000
 * org.logflux.agent.jul.LogfluxHandler.shutdownHook = true
 * org.logflux.agent.jul.LogfluxHandler.includeSource = false
 * </pre>
 *
 * <p>The payload is the message with its parameters ({@link Formatter#formatMessage}). Levels: SEVERE → ERROR,
 * WARNING → WARNING, INFO → INFO, CONFIG and finer → DEBUG. Metadata: {@code logger}, {@code thread},
 * {@code exception} and {@code stack_trace} (cut to the agent's 1024 characters), and with {@code includeSource}
 * {@code source_class} and {@code source_method} (which makes JUL walk the stack). {@code publish} never waits on I/O;
 * {@link #close()} (which {@code LogManager.reset()} calls, also at JVM exit) flushes what is queued, bounded by the
 * shutdown timeout. The handler reports its own problems to its {@link ErrorManager}, never through a logger.
 */
public class LogfluxHandler extends Handler {
    private static final String PREFIX = LogfluxHandler.class.getName();

    private final LogfluxClient client;
    private final Duration shutdownTimeout;
    private final boolean includeSource;
    private final Formatter messages = new SimpleFormatter();

    /** Reads the handler's settings from the LogManager's configuration (logging.properties). */
    public LogfluxHandler() {
        LogManager m = LogManager.getLogManager();
        setLevel(parseLevel(m.getProperty(PREFIX + ".level"), Level.ALL));
        String filter = m.getProperty(PREFIX + ".filter");
        if (filter != null) {
            try {
                setFilter((Filter) ClassLoader.getSystemClassLoader().loadClass(filter).getDeclaredConstructor().newInstance());
            } catch (ReflectiveOperationException | RuntimeException e) {
                reportError("filter " + filter + " not loaded", e instanceof Exception ? (Exception) e : null, ErrorManager.OPEN_FAILURE);
            }
        }
        LogfluxClient.Builder b = LogfluxClient.builder();
        b.source(m.getProperty(PREFIX + ".source"));
        b.address(m.getProperty(PREFIX + ".address"));
        b.sharedSecret(m.getProperty(PREFIX + ".sharedSecret"));
        long q = longProperty(m, "queueBytes");
        if (q != 0) {
            b.queueBytes(q);
        }
        long bb = longProperty(m, "batchBytes");
        if (bb != 0) {
            b.batchBytes((int) bb);
        }
        long fi = longProperty(m, "flushIntervalMillis");
        if (fi != 0) {
            b.flushInterval(Duration.ofMillis(fi));
        }
        String fb = m.getProperty(PREFIX + ".fallback");
        if (fb != null) {
            try {
                b.fallback(Fallback.valueOf(fb.trim().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                reportError("fallback \"" + fb + "\": want none, file or stderr", null, ErrorManager.OPEN_FAILURE);
            }
        }
        String fp = m.getProperty(PREFIX + ".fallbackPath");
        if (fp != null) {
            b.fallbackPath(Path.of(fp.trim()));
        }
        long fm = longProperty(m, "fallbackMaxBytes");
        if (fm != 0) {
            b.fallbackMaxBytes(fm);
        }
        long fa = longProperty(m, "fallbackAfterMillis");
        if (fa != 0) {
            b.fallbackAfter(Duration.ofMillis(fa));
        }
        long st = longProperty(m, "shutdownTimeoutMillis");
        shutdownTimeout = st > 0 ? Duration.ofMillis(st) : LogfluxClient.Builder.DEFAULT_SHUTDOWN_TIMEOUT;
        b.shutdownTimeout(shutdownTimeout);
        String hook = m.getProperty(PREFIX + ".shutdownHook");
        if (hook != null) {
            b.shutdownHook(Boolean.parseBoolean(hook.trim()));
        }
        includeSource = Boolean.parseBoolean(String.valueOf(m.getProperty(PREFIX + ".includeSource")).trim());
        b.onError(this::report);
        LogfluxClient c = null;
        try {
            c = b.build();
        } catch (IllegalArgumentException e) {
            reportError("LogFlux handler not started: " + e.getMessage(), e, ErrorManager.OPEN_FAILURE);
        }
        client = c;
    }

    /** A handler over a client built in code; closing the handler closes the client. */
    public LogfluxHandler(LogfluxClient client) {
        this.client = client;
        this.shutdownTimeout = LogfluxClient.Builder.DEFAULT_SHUTDOWN_TIMEOUT;
        this.includeSource = false;
    }

    private long longProperty(LogManager m, String key) {
        String v = m.getProperty(PREFIX + "." + key);
        if (v == null || v.isBlank()) {
            return 0;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            reportError(PREFIX + "." + key + " \"" + v + "\" is not a number", e, ErrorManager.OPEN_FAILURE);
            return 0;
        }
    }

    private static Level parseLevel(String v, Level dflt) {
        if (v == null) {
            return dflt;
        }
        try {
            return Level.parse(v.trim());
        } catch (IllegalArgumentException e) {
            return dflt;
        }
    }

    private void report(LogfluxException e) {
        reportError("LogFlux: " + e.getMessage(), e, ErrorManager.WRITE_FAILURE);
    }

    /** The client, for {@code flush} and {@code stats}; null if the configuration was refused. */
    public LogfluxClient getClient() {
        return client;
    }

    static org.logflux.agent.Level level(Level level) {
        int n = level.intValue();
        if (n >= Level.SEVERE.intValue()) {
            return org.logflux.agent.Level.ERROR;
        }
        if (n >= Level.WARNING.intValue()) {
            return org.logflux.agent.Level.WARNING;
        }
        if (n >= Level.INFO.intValue()) {
            return org.logflux.agent.Level.INFO;
        }
        return org.logflux.agent.Level.DEBUG;
    }

    /**
     * A record handed to the sender, with what must be read on the calling thread: the formatted message, the thread
     * (JUL records only its id) and, with includeSource, the caller (which JUL finds by walking this thread's stack).
     */
    private static final class Captured {
        final LogRecord record;
        final String message;
        final String threadKey;
        final String thread;
        final boolean withSource;
        final String sourceClass;
        final String sourceMethod;

        Captured(LogRecord record, String message, String threadKey, String thread, boolean withSource,
                 String sourceClass, String sourceMethod) {
            this.record = record;
            this.message = message;
            this.threadKey = threadKey;
            this.thread = thread;
            this.withSource = withSource;
            this.sourceClass = sourceClass;
            this.sourceMethod = sourceMethod;
        }
    }

    /** Captures what belongs to the calling thread and queues the record; the sender thread encodes it. */
    @Override
    public void publish(LogRecord record) {
        LogfluxClient c = client;
        if (c == null || record == null || !isLoggable(record)) {
            return;
        }
        try {
            String msg = messages.formatMessage(record);
            Thread current = Thread.currentThread();
            boolean same = record.getLongThreadID() == current.getId();
            String thread = same ? current.getName() : Long.toString(record.getLongThreadID());
            String logger = record.getLoggerName();
            int estimate = (msg == null ? 7 : msg.length()) + (logger == null ? 4 : logger.length()) + thread.length() + 24
                    + (record.getThrown() == null ? 0 : 2100);
            Captured cap = includeSource
                    ? new Captured(record, msg, same ? "thread" : "thread.id", thread, true, record.getSourceClassName(),
                            record.getSourceMethodName())
                    : new Captured(record, msg, same ? "thread" : "thread.id", thread, false, null, null);
            c.log(cap, estimate + (includeSource ? 160 : 0), encodeRecord);
        } catch (RuntimeException ex) {
            reportError("LogFlux: cannot format a record", ex, ErrorManager.FORMAT_FAILURE);
        }
    }

    private final RecordEncoder<Captured> encodeRecord = this::encode;

    /** Writes one record as an entry; runs on the sender thread. */
    private void encode(Captured cap, EntryEncoder e) {
        LogRecord record = cap.record;
        Instant t = record.getInstant();
        e.begin(level(record.getLevel()), t.getEpochSecond(), t.getNano());
        e.payload(cap.message);
        e.metadata("logger", record.getLoggerName());
        e.metadata(cap.threadKey, cap.thread);
        Throwable thrown = record.getThrown();
        if (thrown != null) {
            e.exception(thrown.getClass().getName(), thrown.getMessage(), EntryEncoder.stackTrace(thrown));
        }
        if (cap.withSource) {
            e.metadata("source_class", cap.sourceClass);
            e.metadata("source_method", cap.sourceMethod);
        }
    }

    /** Asks the agent to confirm what was published, waiting at most the shutdown timeout. */
    @Override
    public void flush() {
        LogfluxClient c = client;
        if (c != null && !c.flush(shutdownTimeout)) {
            reportError("LogFlux: flush not confirmed by the agent: " + c.stats(), null, ErrorManager.FLUSH_FAILURE);
        }
    }

    /** Flushes (bounded by the shutdown timeout) and closes the client. */
    @Override
    public void close() {
        LogfluxClient c = client;
        if (c != null && !c.close(shutdownTimeout)) {
            reportError("LogFlux: not everything was confirmed by the agent at close: " + c.stats(), null,
                    ErrorManager.CLOSE_FAILURE);
        }
    }
}
