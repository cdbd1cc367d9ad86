package org.logflux.agent;

/**
 * Encodes a record that an application thread captured with {@link LogfluxClient#log(Object, int, RecordEncoder)},
 * later, on the sender thread. A framework integration hands its own event object over as it is (after making it safe
 * to read from another thread) and does the JSON work here, off the application thread:
 *
 * <pre>{@code
 * static final RecordEncoder<MyEvent> ENCODE = (ev, e) ->
 *         e.begin(Level.INFO, ev.epochSecond(), ev.nano()).payload(ev.message()).metadata("logger", ev.logger());
 * client.log(event, estimatedBytes, ENCODE);
 * }</pre>
 *
 * <p>{@link EntryEncoder#begin} must come first. A record whose encoder throws, or never calls {@code begin}, is
 * dropped and counted as {@code invalid}; the error goes to the error callback.
 *
 * @param <T> the record's type
 */
@FunctionalInterface
public interface RecordEncoder<T> {
    /** Writes the entry for record into out. Runs on the sender thread; must not block. */
    void encode(T record, EntryEncoder out);
}
