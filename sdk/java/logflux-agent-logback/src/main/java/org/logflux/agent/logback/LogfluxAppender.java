package org.logflux.agent.logback;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.UnsynchronizedAppenderBase;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.logflux.agent.EntryEncoder;
import org.logflux.agent.Fallback;
import org.logflux.agent.LogfluxClient;
import org.logflux.agent.LogfluxException;
import org.logflux.agent.RecordEncoder;
import org.logflux.agent.Stats;
import org.slf4j.Marker;
import org.slf4j.event.KeyValuePair;

/**
 * Sends Logback events to the local LogFlux agent.
 *
 * <pre>{@code
 * <appender name="LOGFLUX" class="org.logflux.agent.logback.LogfluxAppender">
 *   <source>billing</source>
 *   <!-- optional: <address>unix:///tmp/logflux-agent.sock</address> <sharedSecret>…</sharedSecret> -->
 * </appender>
 * }</pre>
 *
 * <p>The formatted message is the payload. Levels: TRACE and DEBUG → DEBUG, INFO → INFO, WARN → WARNING,
 * ERROR → ERROR. Metadata, first key wins: {@code logger}, {@code thread}, {@code marker} (names joined by ", "),
 * {@code exception} ("class: message") and {@code stack_trace} (cut to the agent's 1024 characters; set
 * {@code stackTraceInPayload} to append the whole trace to the payload), then the SLF4J 2 key-value pairs, then the
 * MDC.
 *
 * <p>{@code append} does what Logback's AsyncAppender does on the calling thread and no more: it captures the
 * event's formatted message, thread name and MDC ({@code prepareForDeferredProcessing}) and puts the event into the
 * client's lock-free queue; the client's sender thread encodes it. It never waits on I/O and takes no lock and no
 * {@code synchronized} (the base class is {@link UnsynchronizedAppenderBase}). Key-value pair values are turned into
 * strings on the sender thread, as AsyncAppender's downstream appenders do. Stopping the appender
 * (which stopping the {@code LoggerContext} does) flushes what is queued to the agent, bounded by
 * {@code shutdownTimeout}. The appender reports its own problems to Logback's status manager, never through a
 * logger.
 */
public class LogfluxAppender extends UnsynchronizedAppenderBase<ILoggingEvent> {
    private final LogfluxClient.Builder builder = LogfluxClient.builder();
    private java.time.Duration shutdownTimeout = LogfluxClient.Builder.DEFAULT_SHUTDOWN_TIMEOUT;
    private boolean stackTraceInPayload;
    private volatile LogfluxClient client;

    public void setSource(String source) {
        builder.source(source);
    }

    public void setAddress(String address) {
        builder.address(address);
    }

    public void setSharedSecret(String sharedSecret) {
        builder.sharedSecret(sharedSecret);
    }

    public void setQueueBytes(long queueBytes) {
        builder.queueBytes(queueBytes);
    }

    public void setBatchBytes(int batchBytes) {
        builder.batchBytes(batchBytes);
    }

    /** For example {@code 500 milliseconds} or {@code 2 seconds}. */
    public void setFlushInterval(ch.qos.logback.core.util.Duration d) {
        builder.flushInterval(java.time.Duration.ofMillis(d.getMilliseconds()));
    }

    public void setConnectTimeout(ch.qos.logback.core.util.Duration d) {
        builder.connectTimeout(java.time.Duration.ofMillis(d.getMilliseconds()));
    }

    public void setWriteTimeout(ch.qos.logback.core.util.Duration d) {
        builder.writeTimeout(java.time.Duration.ofMillis(d.getMilliseconds()));
    }

    /** none, file or stderr. */
    public void setFallback(String fallback) {
        try {
            builder.fallback(Fallback.valueOf(fallback.trim().toUpperCase(java.util.Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            addError("fallback \"" + fallback + "\": want none, file or stderr");
        }
    }

    public void setFallbackPath(String path) {
        builder.fallbackPath(Path.of(path));
    }

    public void setFallbackMaxBytes(long n) {
        builder.fallbackMaxBytes(n);
    }

    public void setFallbackAfter(ch.qos.logback.core.util.Duration d) {
        builder.fallbackAfter(java.time.Duration.ofMillis(d.getMilliseconds()));
    }

    /** Bounds the flush when the appender stops. Default 5 seconds. */
    public void setShutdownTimeout(ch.qos.logback.core.util.Duration d) {
        shutdownTimeout = java.time.Duration.ofMillis(d.getMilliseconds());
        builder.shutdownTimeout(shutdownTimeout);
    }

    /** Whether the SDK's own JVM shutdown hook also closes the client at exit. Default true. */
    public void setShutdownHook(boolean on) {
        builder.shutdownHook(on);
    }

    /** Appends the whole stack trace to the payload (it is also in metadata, cut to 1024 characters). Default false. */
    public void setStackTraceInPayload(boolean on) {
        stackTraceInPayload = on;
    }

    /** The client, for {@code flush} and {@code stats}; null until started. */
    public LogfluxClient getClient() {
        return client;
    }

    @Override
    public void start() {
        if (isStarted()) {
            return;
        }
        try {
            builder.onError(this::reportError);
            client = builder.build();
        } catch (IllegalArgumentException e) {
            addError("LogFlux appender not started: " + e.getMessage());
            return;
        }
        super.start();
    }

    private void reportError(LogfluxException e) {
        if (e.kind() == LogfluxException.Kind.DROPPED || e.kind() == LogfluxException.Kind.UNAVAILABLE) {
            addWarn("LogFlux: " + e.getMessage());
        } else {
            addError("LogFlux: " + e.getMessage(), e.getCause());
        }
    }

    @Override
    public void stop() {
        if (!isStarted()) {
            return;
        }
        super.stop();
        LogfluxClient c = client;
        if (c != null && !c.close(shutdownTimeout)) {
            Stats s = c.stats();
            addWarn("LogFlux: not everything was confirmed by the agent at stop: " + s);
        }
    }

    static org.logflux.agent.Level level(Level level) {
        switch (level.toInt()) {
            case Level.ERROR_INT:
                return org.logflux.agent.Level.ERROR;
            case Level.WARN_INT:
                return org.logflux.agent.Level.WARNING;
            case Level.INFO_INT:
                return org.logflux.agent.Level.INFO;
            default:
                return org.logflux.agent.Level.DEBUG;
        }
    }

    /** Encodes the events {@link #append} queued, on the client's sender thread. */
    private final RecordEncoder<ILoggingEvent> encodeEvent = this::encode;

    /**
     * Captures what is bound to the calling thread or may change (the formatted message, the thread name, the MDC;
     * the throwable proxy, markers and key-value pairs are the event's own already), as Logback's AsyncAppender does,
     * and queues the event itself. The JSON is written later on the sender thread, by {@link #encode}.
     */
    @Override
    protected void append(ILoggingEvent event) {
        LogfluxClient c = client;
        if (c == null) {
            return;
        }
        event.prepareForDeferredProcessing();
        c.log(event, estimate(event), encodeEvent);
    }

    /**
     * A rough size of the event's own strings in its JSON (the client adds the fields every entry has), charged to
     * the queue until the sender has encoded it.
     */
    private int estimate(ILoggingEvent event) {
        String msg = event.getFormattedMessage();
        String thread = event.getThreadName();
        int n = (msg == null ? 7 : msg.length()) + event.getLoggerName().length() + 10
                + (thread == null ? 4 : thread.length()) + 10;
        if (event.getThrowableProxy() != null) {
            n += 2100 + (stackTraceInPayload ? 8192 : 0); // exception and stack_trace (at most 1024 characters each)
        }
        Map<String, String> mdc = event.getMDCPropertyMap();
        if (mdc != null) {
            n += mdc.size() * 48;
        }
        List<KeyValuePair> kvs = event.getKeyValuePairs();
        if (kvs != null) {
            n += kvs.size() * 48;
        }
        return n;
    }

    /** Writes one event as an entry; runs on the sender thread. */
    void encode(ILoggingEvent event, EntryEncoder e) {
        Instant t = event.getInstant();
        if (t != null) {
            e.begin(level(event.getLevel()), t.getEpochSecond(), t.getNano());
        } else {
            e.begin(level(event.getLevel()), Math.floorDiv(event.getTimeStamp(), 1000),
                    (int) Math.floorMod(event.getTimeStamp(), 1000) * 1_000_000);
        }
        IThrowableProxy tp = event.getThrowableProxy();
        String trace = tp == null ? null : ThrowableProxyUtil.asString(tp);
        String msg = event.getFormattedMessage();
        e.payload(trace != null && stackTraceInPayload ? msg + "\n" + trace : msg);
        e.metadata("logger", event.getLoggerName());
        e.metadata("thread", event.getThreadName());
        List<Marker> markers = event.getMarkerList();
        if (markers != null && !markers.isEmpty()) {
            e.metadata("marker", markerNames(markers));
        }
        if (tp != null) {
            e.exception(tp.getClassName(), tp.getMessage(), trace);
        }
        List<KeyValuePair> kvs = event.getKeyValuePairs();
        if (kvs != null) {
            for (int i = 0, n = kvs.size(); i < n; i++) {
                KeyValuePair kv = kvs.get(i);
                e.metadata(kv.key, String.valueOf(kv.value));
            }
        }
        Map<String, String> mdc = event.getMDCPropertyMap();
        if (mdc != null && !mdc.isEmpty()) {
            for (Map.Entry<String, String> m : mdc.entrySet()) {
                e.metadata(m.getKey(), m.getValue());
            }
        }
    }

    private static String markerNames(List<Marker> markers) {
        if (markers.size() == 1) {
            return markers.get(0).getName();
        }
        StringBuilder sb = new StringBuilder();
        for (Marker m : markers) {
            if (sb.length() > 0) {
                sb.append(", ");
            }
            sb.append(m.getName());
        }
        return sb.toString();
    }
}
