package org.logflux.agent;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * A snapshot of a client's counters. Counts are of entries unless said otherwise. An entry that is resent (after a
 * lost connection or a {@code queue_full} answer) may be counted in {@link #sent()} more than once.
 */
public final class Stats {
    /** The keys of {@link #dropped()}. */
    public static final String DROP_QUEUE_FULL = "queue_full";
    public static final String DROP_CLOSED = "closed";
    public static final String DROP_INVALID = "invalid";
    public static final String DROP_FALLBACK_FULL = "fallback_full";
    public static final String DROP_FALLBACK_ERROR = "fallback_error";
    public static final String DROP_UNSENT = "unsent";

    final long logged;
    final long queued;
    final long queuedBytes;
    final long sent;
    final long confirmed;
    final long fallback;
    final Map<String, Long> dropped;
    final Map<String, Long> rejected;
    final Map<String, Long> retries;
    final long connections;
    final boolean connected;
    final long dialFailures;
    final LogfluxException lastError;

    Stats(long logged, long queued, long queuedBytes, long sent, long confirmed, long fallback, Map<String, Long> dropped,
          Map<String, Long> rejected, Map<String, Long> retries, long connections, boolean connected, long dialFailures,
          LogfluxException lastError) {
        this.logged = logged;
        this.queued = queued;
        this.queuedBytes = queuedBytes;
        this.sent = sent;
        this.confirmed = confirmed;
        this.fallback = fallback;
        this.dropped = Collections.unmodifiableMap(new TreeMap<>(dropped));
        this.rejected = Collections.unmodifiableMap(new TreeMap<>(rejected));
        this.retries = Collections.unmodifiableMap(new TreeMap<>(retries));
        this.connections = connections;
        this.connected = connected;
        this.dialFailures = dialFailures;
        this.lastError = lastError;
    }

    /** Entries taken into the queue by {@code log}. */
    public long logged() {
        return logged;
    }

    /** Entries held in memory now: waiting, in flight, or sent and awaiting the agent's confirmation. */
    public long queued() {
        return queued;
    }

    /** The memory charged for {@link #queued()} entries, bounded by the queue's byte cap. */
    public long queuedBytes() {
        return queuedBytes;
    }

    /** Entries the agent took without an error. */
    public long sent() {
        return sent;
    }

    /** Entries the agent confirmed durable with its answer to the {@code flush} action. */
    public long confirmed() {
        return confirmed;
    }

    /** Entries written to the fallback file or standard error. */
    public long fallback() {
        return fallback;
    }

    /**
     * Entries the SDK gave up on, by reason: {@code queue_full} (no room in the queue), {@code closed} (logged after
     * close), {@code invalid} (the agent would refuse it), {@code fallback_full}, {@code fallback_error},
     * {@code unsent} (still unconfirmed at close, with no fallback). Only reasons that occurred are present.
     */
    public Map<String, Long> dropped() {
        return dropped;
    }

    /** The count for one drop reason, 0 if none. */
    public long dropped(String reason) {
        return dropped.getOrDefault(reason, 0L);
    }

    /** The sum over every drop reason. */
    public long droppedTotal() {
        long n = 0;
        for (long v : dropped.values()) {
            n += v;
        }
        return n;
    }

    /** Entries the agent refused, by its error code such as {@code invalid_entry}. They are not retried. */
    public Map<String, Long> rejected() {
        return rejected;
    }

    /**
     * Batches sent again, by reason: {@code queue_full} (the agent refused the whole batch for now), {@code reconnect}
     * (the connection was lost before the agent confirmed the batch), {@code unavailable} (the agent was shutting
     * down) and {@code split} (the agent found the line too large).
     */
    public Map<String, Long> retries() {
        return retries;
    }

    /** Connections opened to the agent so far (a reconnection counts again). */
    public long connections() {
        return connections;
    }

    /** Whether a connection to the agent is open now. */
    public boolean connected() {
        return connected;
    }

    /** Failed attempts to connect or authenticate. */
    public long dialFailures() {
        return dialFailures;
    }

    /** The most recent connection or agent error, or null. */
    public LogfluxException lastError() {
        return lastError;
    }

    @Override
    public String toString() {
        return "Stats{logged=" + logged + ", queued=" + queued + " (" + queuedBytes + " B), sent=" + sent
                + ", confirmed=" + confirmed + ", fallback=" + fallback + ", dropped=" + dropped + ", rejected="
                + rejected + ", retries=" + retries + ", connections=" + connections + ", connected=" + connected
                + ", dialFailures=" + dialFailures + ", lastError=" + (lastError == null ? null : lastError.getMessage())
                + "}";
    }
}
