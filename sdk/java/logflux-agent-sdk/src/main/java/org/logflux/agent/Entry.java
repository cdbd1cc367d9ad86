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
     * Why the agent would refuse this entry, or null: the checks of {@link #encodeInto} that can be made without
     * encoding, so that {@code log} can refuse the entry at once.
     */
    String invalidReason() {
        if (payload == null || payload.isEmpty()) {
            return "payload is empty";
        }
        if (source != null && source.length() > EntryEncoder.MAX_SOURCE_CHARS
                && source.codePointCount(0, source.length()) > EntryEncoder.MAX_SOURCE_CHARS) {
            return "source is longer than 256 characters";
        }
        if (payload.length() > EntryEncoder.MAX_PAYLOAD_BYTES / 3 && utf8Length(payload) > EntryEncoder.MAX_PAYLOAD_BYTES) {
            return "payload is more than 1 MiB";
        }
        if (payloadType != null && !EntryEncoder.validPayloadType(payloadType)) {
            return "payload type \"" + payloadType + "\" is not 1-64 letters, digits, '_', '-' or '.'";
        }
        return null;
    }

    /** The bytes of s in UTF-8 as the encoder writes it (a lone surrogate becomes U+FFFD, 3 bytes). */
    private static long utf8Length(String s) {
        long n = 0;
        for (int i = 0, len = s.length(); i < len; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n++;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < len && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }

    /** The time set on a snapshot: seconds since the epoch, or -1 when {@link #timestamp} holds it. */
    private long snapSecond = -1;
    private int snapNano;

    /**
     * A copy of this entry as it is now, with its time fixed (the time of the call when it has none), for the sender
     * to encode later: the caller may change or log this entry again at once.
     */
    Entry snapshot() {
        Entry c = new Entry(level, payload);
        c.type = type;
        c.source = source;
        c.payloadType = payloadType;
        if (metaCount > 0) {
            c.meta = java.util.Arrays.copyOf(meta, metaCount);
            c.metaCount = metaCount;
        }
        if (timestamp != null) {
            c.snapSecond = timestamp.getEpochSecond();
            c.snapNano = timestamp.getNano();
        } else {
            Instant now = Instant.now();
            c.snapSecond = now.getEpochSecond();
            c.snapNano = now.getNano();
        }
        return c;
    }

    /** Encodes a snapshot on the sender thread. */
    static final RecordEncoder<Entry> SNAPSHOT_ENCODER = (e, enc) -> {
        enc.begin(e.type, e.level, e.snapSecond, e.snapNano);
        e.encodeInto(enc);
    };

    /**
     * The size of the entry's own strings as the encoder writes them when they are ASCII with nothing to escape
     * (quotes and separators included); {@link LogfluxClient} adds the fixed fields. Charged to the queue until the
     * sender has encoded the entry.
     */
    int estimatedBytes() {
        long n = payload.length();
        if (source != null) {
            n += source.length() + 12;
        }
        if (payloadType != null) {
            n += payloadType.length() + 17;
        }
        for (int i = 0; i < metaCount; i += 2) {
            n += Math.min(meta[i + 1].length(), EntryEncoder.MAX_META_VALUE_CHARS + 2) + meta[i].length() + 6;
        }
        return (int) Math.min(n, Integer.MAX_VALUE / 2);
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
