package org.logflux.agent;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One record for the agent, with the fields of the Agent API's LogEntry:
 *
 * <pre>{@code
 * client.log(Entry.info("charged").metadata("orderId", "42"));
 * }</pre>
 *
 * <p>Unset fields take defaults when the entry is logged: type {@link EntryType#LOG}, the client's source, the time of
 * the {@code log} call, payload type {@code generic} (left out). The entry is encoded when it is logged, so it may be
 * changed and logged again afterwards. Not safe for use by several threads at once.
 */
public final class Entry {
    private String payload;
    private Level level;
    private EntryType type = EntryType.LOG;
    private String source;
    private Instant timestamp;
    private String payloadType;
    private String[] meta = EMPTY;
    private int metaCount;

    private static final String[] EMPTY = new String[0];

    private Entry(Level level, String payload) {
        this.level = Objects.requireNonNull(level, "level");
        this.payload = payload;
    }

    /** An entry of the given level and payload. */
    public static Entry of(Level level, String payload) {
        return new Entry(level, payload);
    }

    public static Entry emergency(String payload) {
        return new Entry(Level.EMERGENCY, payload);
    }

    public static Entry alert(String payload) {
        return new Entry(Level.ALERT, payload);
    }

    public static Entry critical(String payload) {
        return new Entry(Level.CRITICAL, payload);
    }

    public static Entry error(String payload) {
        return new Entry(Level.ERROR, payload);
    }

    public static Entry warning(String payload) {
        return new Entry(Level.WARNING, payload);
    }

    public static Entry notice(String payload) {
        return new Entry(Level.NOTICE, payload);
    }

    public static Entry info(String payload) {
        return new Entry(Level.INFO, payload);
    }

    public static Entry debug(String payload) {
        return new Entry(Level.DEBUG, payload);
    }

    /** Adds or replaces one metadata pair. A value longer than 1024 characters is cut to 1024, ending in "…". */
    public Entry metadata(String key, String value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        for (int i = 0; i < metaCount; i += 2) {
            if (meta[i].equals(key)) {
                meta[i + 1] = value;
                return this;
            }
        }
        if (metaCount == meta.length) {
            meta = java.util.Arrays.copyOf(meta, Math.max(8, meta.length * 2));
        }
        meta[metaCount++] = key;
        meta[metaCount++] = value;
        return this;
    }

    public Entry payload(String payload) {
        this.payload = payload;
        return this;
    }

    public Entry level(Level level) {
        this.level = Objects.requireNonNull(level, "level");
        return this;
    }

    public Entry type(EntryType type) {
        this.type = Objects.requireNonNull(type, "type");
        return this;
    }

    /** The entry's source, at most 256 characters; null: the client's. */
    public Entry source(String source) {
        this.source = source;
        return this;
    }

    /** The entry's time; null: the time of the {@code log} call. */
    public Entry timestamp(Instant timestamp) {
        this.timestamp = timestamp;
        return this;
    }

    /** 1-64 letters, digits, '_', '-' and '.', such as {@code generic_json}; null: generic. */
    public Entry payloadType(String payloadType) {
        this.payloadType = payloadType;
        return this;
    }

    public String payload() {
        return payload;
    }

    public Level level() {
        return level;
    }

    public EntryType type() {
        return type;
    }

    public String source() {
        return source;
    }

    public Instant timestamp() {
        return timestamp;
    }

    public String payloadType() {
        return payloadType;
    }

    /** The metadata, in the order the keys were first added. */
    public Map<String, String> metadata() {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < metaCount; i += 2) {
            m.put(meta[i], meta[i + 1]);
        }
        return Collections.unmodifiableMap(m);
    }

    /**
     * Encodes this entry into enc (already begun); records why it is invalid when the agent would refuse it. Unlike
     * the lenient encoder calls, an empty or oversized payload or an overlong source makes the entry invalid.
     */
    void encodeInto(EntryEncoder enc) {
        if (payload == null || payload.isEmpty()) {
            enc.invalid = "payload is empty";
            return;
        }
        if (source != null && !source.isEmpty()) {
            if (source.codePointCount(0, source.length()) > EntryEncoder.MAX_SOURCE_CHARS) {
                enc.invalid = "source is longer than 256 characters";
                return;
            }
            enc.source(source);
        }
        enc.payload(payload);
        if (enc.payloadCut) {
            enc.invalid = "payload is more than 1 MiB";
            return;
        }
        if (payloadType != null) {
            enc.payloadType(payloadType);
        }
        for (int i = 0; i < metaCount; i += 2) {
            enc.metadata(meta[i], meta[i + 1]);
        }
    }

    @Override
    public String toString() {
        return "Entry{" + level + " " + type + " \"" + payload + "\" " + metadata() + "}";
    }
}
