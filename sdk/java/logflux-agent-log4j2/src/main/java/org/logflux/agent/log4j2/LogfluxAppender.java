package org.logflux.agent.log4j2;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.Marker;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.Core;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;
import org.apache.logging.log4j.core.config.plugins.Plugin;
import org.apache.logging.log4j.core.config.plugins.PluginBuilderAttribute;
import org.apache.logging.log4j.core.config.plugins.PluginBuilderFactory;
import org.apache.logging.log4j.core.time.Instant;
import org.apache.logging.log4j.util.ReadOnlyStringMap;
import org.apache.logging.log4j.util.TriConsumer;
import org.logflux.agent.EntryEncoder;
import org.logflux.agent.Fallback;
import org.logflux.agent.LogfluxClient;
import org.logflux.agent.LogfluxException;
import org.logflux.agent.RecordEncoder;

/**
 * Sends Log4j2 events to the local LogFlux agent: {@code <Logflux name="LOGFLUX" source="billing"/>}, configurable
 * from XML, JSON, YAML and properties.
 *
 * <p>The formatted message is the payload. Levels: TRACE and DEBUG → DEBUG, INFO → INFO, WARN → WARNING,
 * ERROR → ERROR, FATAL → CRITICAL (custom levels by their number). Metadata, first key wins: {@code logger},
 * {@code thread}, {@code marker}, {@code exception} ("class: message") and {@code stack_trace} (cut to the agent's
 * 1024 characters; {@code stackTraceInPayload="true"} appends the whole trace to the payload), then the
 * ThreadContext (context data).
 *
 * <p>{@code append} captures the formatted message and the thread name, and queues the (immutable) event in the
 * client's lock-free queue; the client's sender thread encodes it. It never waits on I/O.
 * Stopping the appender ({@code LogManager.shutdown()} does) flushes what is queued, bounded by
 * {@code shutdownTimeoutMillis}. Its own problems go to Log4j's {@code StatusLogger}, never through a logger.
 */
@Plugin(name = "Logflux", category = Core.CATEGORY_NAME, elementType = Appender.ELEMENT_TYPE, printObject = true)
public final class LogfluxAppender extends AbstractAppender {
    private final LogfluxClient client;
    private final Duration shutdownTimeout;
    private final boolean stackTraceInPayload;

    private LogfluxAppender(String name, org.apache.logging.log4j.core.Filter filter, boolean ignoreExceptions,
                            Property[] properties, LogfluxClient client, Duration shutdownTimeout, boolean stackTraceInPayload) {
        super(name, filter, null, ignoreExceptions, properties);
        this.client = client;
        this.shutdownTimeout = shutdownTimeout;
        this.stackTraceInPayload = stackTraceInPayload;
    }

    /** The client, for {@code flush} and {@code stats}. */
    public LogfluxClient getClient() {
        return client;
    }

    @PluginBuilderFactory
    public static <B extends Builder<B>> B newBuilder() {
        return new Builder<B>().asBuilder();
    }

    /** The plugin's attributes; durations are in milliseconds. */
    public static class Builder<B extends Builder<B>> extends AbstractAppender.Builder<B>
            implements org.apache.logging.log4j.core.util.Builder<LogfluxAppender> {
        @PluginBuilderAttribute
        private String source;
        @PluginBuilderAttribute
        private String address;
        @PluginBuilderAttribute(sensitive = true)
        private String sharedSecret;
        @PluginBuilderAttribute
        private long queueBytes;
        @PluginBuilderAttribute
        private int batchBytes;
        @PluginBuilderAttribute
        private long flushIntervalMillis;
        @PluginBuilderAttribute
        private long connectTimeoutMillis;
        @PluginBuilderAttribute
        private long writeTimeoutMillis;
        @PluginBuilderAttribute
        private String fallback;
        @PluginBuilderAttribute
        private String fallbackPath;
        @PluginBuilderAttribute
        private long fallbackMaxBytes;
        @PluginBuilderAttribute
        private long fallbackAfterMillis;
        @PluginBuilderAttribute
        private long shutdownTimeoutMillis;
        @PluginBuilderAttribute
        private boolean shutdownHook = true;
        @PluginBuilderAttribute
        private boolean stackTraceInPayload;

        public B setSource(String v) {
            source = v;
            return asBuilder();
        }

        public B setAddress(String v) {
            address = v;
            return asBuilder();
        }

        public B setSharedSecret(String v) {
            sharedSecret = v;
            return asBuilder();
        }

        public B setShutdownTimeoutMillis(long v) {
            shutdownTimeoutMillis = v;
            return asBuilder();
        }

        public B setShutdownHook(boolean v) {
            shutdownHook = v;
            return asBuilder();
        }

        @Override
        public LogfluxAppender build() {
            LogfluxClient.Builder b = LogfluxClient.builder().source(source).address(address).sharedSecret(sharedSecret)
                    .shutdownHook(shutdownHook);
            if (queueBytes != 0) {
                b.queueBytes(queueBytes);
            }
            if (batchBytes != 0) {
                b.batchBytes(batchBytes);
            }
            if (flushIntervalMillis != 0) {
                b.flushInterval(Duration.ofMillis(flushIntervalMillis));
            }
            if (connectTimeoutMillis != 0) {
                b.connectTimeout(Duration.ofMillis(connectTimeoutMillis));
            }
            if (writeTimeoutMillis != 0) {
                b.writeTimeout(Duration.ofMillis(writeTimeoutMillis));
            }
            if (fallback != null) {
                try {
                    b.fallback(Fallback.valueOf(fallback.trim().toUpperCase(Locale.ROOT)));
                } catch (IllegalArgumentException e) {
                    LOGGER.error("Logflux appender {}: fallback \"{}\": want none, file or stderr", getName(), fallback);
                    return null;
                }
            }
            if (fallbackPath != null) {
                b.fallbackPath(Path.of(fallbackPath));
            }
            if (fallbackMaxBytes != 0) {
                b.fallbackMaxBytes(fallbackMaxBytes);
            }
            if (fallbackAfterMillis != 0) {
                b.fallbackAfter(Duration.ofMillis(fallbackAfterMillis));
            }
            Duration shutdown = shutdownTimeoutMillis > 0 ? Duration.ofMillis(shutdownTimeoutMillis)
                    : LogfluxClient.Builder.DEFAULT_SHUTDOWN_TIMEOUT;
            b.shutdownTimeout(shutdown);
            String name = getName();
            b.onError(e -> report(name, e));
            try {
                return new LogfluxAppender(name, getFilter(), isIgnoreExceptions(), getPropertyArray(), b.build(), shutdown,
                        stackTraceInPayload);
            } catch (IllegalArgumentException e) {
                LOGGER.error("Logflux appender {} not created: {}", name, e.getMessage());
                return null;
            }
        }
    }

    private static void report(String name, LogfluxException e) {
        if (e.kind() == LogfluxException.Kind.DROPPED || e.kind() == LogfluxException.Kind.UNAVAILABLE) {
            LOGGER.warn("Logflux appender {}: {}", name, e.getMessage());
        } else {
            LOGGER.error("Logflux appender {}: {}", name, e.getMessage(), e.getCause());
        }
    }

    static org.logflux.agent.Level level(Level level) {
        int n = level.intLevel();
        if (n <= Level.FATAL.intLevel()) {
            return org.logflux.agent.Level.CRITICAL;
        }
        if (n <= Level.ERROR.intLevel()) {
            return org.logflux.agent.Level.ERROR;
        }
        if (n <= Level.WARN.intLevel()) {
            return org.logflux.agent.Level.WARNING;
        }
        if (n <= Level.INFO.intLevel()) {
            return org.logflux.agent.Level.INFO;
        }
        return org.logflux.agent.Level.DEBUG;
    }

    private static final TriConsumer<String, Object, EntryEncoder> CONTEXT =
            (k, v, e) -> e.metadata(k, String.valueOf(v));

    /**
     * An event handed to the sender: the event made immutable (Log4j2 copies it only when it is a reusable, garbage-free
     * one) with what must be read on the calling thread, as Log4j2's AsyncAppender does.
     */
    private static final class Captured {
        final LogEvent event;
        final String message;
        final String thread;

        Captured(LogEvent event, String message, String thread) {
            this.event = event;
            this.message = message;
            this.thread = thread;
        }
    }

    /**
     * Captures the formatted message and the thread name on the calling thread and queues the event; the sender thread
     * writes the JSON ({@link #encode}). Never waits on I/O.
     */
    @Override
    public void append(LogEvent event) {
        LogEvent ev = event.toImmutable();
        String msg = ev.getMessage() == null ? null : ev.getMessage().getFormattedMessage();
        String thread = ev.getThreadName();
        ReadOnlyStringMap ctx = ev.getContextData();
        String logger = ev.getLoggerName();
        int estimate = (msg == null ? 7 : msg.length()) + (logger == null ? 4 : logger.length())
                + (thread == null ? 4 : thread.length()) + 20
                + (ev.getThrown() == null ? 0 : 2100 + (stackTraceInPayload ? 8192 : 0)) + (ctx == null ? 0 : ctx.size() * 48);
        client.log(new Captured(ev, msg, thread), estimate, encodeEvent);
    }

    private final RecordEncoder<Captured> encodeEvent = this::encode;

    /** Writes one event as an entry; runs on the sender thread. */
    private void encode(Captured c, EntryEncoder e) {
        LogEvent event = c.event;
        Instant t = event.getInstant();
        e.begin(level(event.getLevel()), t.getEpochSecond(), t.getNanoOfSecond());
        Throwable thrown = event.getThrown();
        String trace = thrown == null ? null : EntryEncoder.stackTrace(thrown);
        String msg = c.message;
        e.payload(trace != null && stackTraceInPayload ? msg + "\n" + trace : msg);
        e.metadata("logger", event.getLoggerName());
        e.metadata("thread", c.thread);
        Marker marker = event.getMarker();
        if (marker != null) {
            e.metadata("marker", marker.getName());
        }
        if (thrown != null) {
            e.exception(thrown.getClass().getName(), thrown.getMessage(), trace);
        }
        ReadOnlyStringMap ctx = event.getContextData();
        if (ctx != null && !ctx.isEmpty()) {
            ctx.forEach(CONTEXT, e);
        }
    }

    @Override
    public boolean stop(long timeout, TimeUnit unit) {
        setStopping();
        super.stop(timeout, unit, false);
        Duration bound = timeout > 0 ? Duration.ofNanos(Math.min(unit.toNanos(timeout), shutdownTimeout.toNanos())) : shutdownTimeout;
        if (!client.close(bound)) {
            LOGGER.warn("Logflux appender {}: not everything was confirmed by the agent at stop: {}", getName(), client.stats());
        }
        setStopped();
        return true;
    }
}
