package org.logflux.agent;

/**
 * Encodes one entry as the Agent API's JSON, straight into reused buffers: no reflection, no JSON library, and no
 * allocation for plain fields. Framework integrations use it to log without building an {@link Entry}:
 *
 * <pre>{@code
 * EntryEncoder e = client.encoder(Level.INFO, epochSecond, nanoOfSecond);
 * e.payload(message).metadata("logger", loggerName).metadata("thread", threadName);
 * client.log(e);   // queues the entry and takes the encoder back
 * }</pre>
 *
 * <p>An encoder belongs to one thread between {@link LogfluxClient#encoder} and {@link LogfluxClient#log(EntryEncoder)}.
 * Fields may be written in any order. A metadata key written twice keeps its first value (the agent refuses duplicate
 * keys). Values longer than the agent's limits are cut: metadata values to 1024 characters ending in "…", the
 * payload to 1 MiB of UTF-8. Invalid UTF-16 (a lone surrogate) becomes U+FFFD.
 */
public final class EntryEncoder {
    static final int MAX_PAYLOAD_BYTES = 1 << 20;
    static final int MAX_SOURCE_CHARS = 256;
    static final int MAX_META_VALUE_CHARS = 1024;
    static final int MAX_META_BYTES = 1 << 20;
    static final int MAX_PAYLOAD_TYPE = 64;

    private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    /** SAFE[c] is true for the ASCII characters that go into a JSON string as they are. */
    private static final boolean[] SAFE = new boolean[128];

    static {
        for (int c = 0x20; c < 128; c++) {
            SAFE[c] = c != '"' && c != '\\';
        }
    }

    /** A growable byte array. */
    static final class Buf {
        byte[] b;
        int n;

        Buf(int cap) {
            b = new byte[cap];
        }

        void ensure(int more) {
            if (n + more > b.length) {
                int cap = Math.max(b.length * 2, n + more);
                b = java.util.Arrays.copyOf(b, cap);
            }
        }

        void put(byte[] src) {
            ensure(src.length);
            System.arraycopy(src, 0, b, n, src.length);
            n += src.length;
        }

        void put(byte c) {
            ensure(1);
            b[n++] = c;
        }
    }

    final Buf main = new Buf(512);
    final Buf meta = new Buf(256);
    private String[] keys = new String[16];
    private int nkeys;
    private boolean hasPayload;
    private boolean hasSource;
    private boolean hasPayloadType;
    private boolean begun;
    /** Why the entry cannot be sent, or null. */
    String invalid;
    /** True once the payload was cut to the limit. */
    boolean payloadCut;

    EntryEncoder() {
    }

    private static final byte[] K_TYPE = ascii("{\"entryType\":");
    private static final byte[] K_LEVEL = ascii(",\"logLevel\":");
    private static final byte[] K_TIME = ascii(",\"timestamp\":\"");
    private static final byte[] K_SOURCE = ascii(",\"source\":");
    private static final byte[] K_PAYLOAD = ascii(",\"payload\":");
    private static final byte[] K_PAYLOAD_TYPE = ascii(",\"payloadType\":");
    private static final byte[] K_META = ascii(",\"metadata\":{");

    static byte[] ascii(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    /**
     * Starts a new entry of type LOG; the first call for every entry (a {@link RecordEncoder} makes it first). A
     * negative epochSecond leaves the timestamp out (the agent then uses the time of receipt).
     */
    public EntryEncoder begin(Level level, long epochSecond, int nanoOfSecond) {
        begin(EntryType.LOG, level, epochSecond, nanoOfSecond);
        return this;
    }

    /** Starts a new entry of the given type; see {@link #begin(Level, long, int)}. */
    public EntryEncoder begin(Level level, EntryType type, long epochSecond, int nanoOfSecond) {
        begin(type, level, epochSecond, nanoOfSecond);
        return this;
    }

    /** Lets go of buffers grown by a huge entry. */
    void shrink() {
        main.b = new byte[512];
        meta.b = new byte[256];
    }

    /** Forgets the entry in the making: {@link #finish} then finds it invalid unless {@code begin} comes first. */
    void reset() {
        begun = false;
    }

    void begin(EntryType type, Level level, long epochSecond, int nano) {
        begun = true;
        main.n = 0;
        meta.n = 0;
        for (int i = 0; i < nkeys; i++) {
            keys[i] = null;
        }
        nkeys = 0;
        hasPayload = hasSource = hasPayloadType = payloadCut = false;
        invalid = null;
        main.put(K_TYPE);
        main.put((byte) ('0' + type.code()));
        main.put(K_LEVEL);
        main.put((byte) ('0' + level.code()));
        if (epochSecond >= 0 && epochSecond <= MAX_EPOCH_SECOND) {
            main.put(K_TIME);
            writeTimestamp(main, epochSecond, nano);
        }
    }

    /** Sets the entry's source (default: the client's). At most 256 characters; a longer one is cut. */
    public EntryEncoder source(String source) {
        if (hasSource || source == null || source.isEmpty()) {
            return this;
        }
        hasSource = true;
        main.put(K_SOURCE);
        writeString(main, source, MAX_SOURCE_CHARS, Integer.MAX_VALUE);
        return this;
    }

    /** Sets the payload (the message). An empty or null payload is sent as "(empty)"; a longer one than 1 MiB is cut. */
    public EntryEncoder payload(CharSequence payload) {
        if (hasPayload) {
            return this;
        }
        hasPayload = true;
        main.put(K_PAYLOAD);
        if (payload == null || payload.length() == 0) {
            payload = "(empty)";
        }
        payloadCut = writeString(main, payload, Integer.MAX_VALUE, MAX_PAYLOAD_BYTES);
        return this;
    }

    /**
     * Sets the payload type, such as {@code generic_json}: 1-64 letters, digits, '_', '-' and '.'. Another value
     * makes the entry invalid (dropped and counted as "invalid").
     */
    public EntryEncoder payloadType(String payloadType) {
        if (hasPayloadType || payloadType == null) {
            return this;
        }
        if (!validPayloadType(payloadType)) {
            invalid = "payload type \"" + payloadType + "\" is not 1-64 letters, digits, '_', '-' or '.'";
            return this;
        }
        hasPayloadType = true;
        main.put(K_PAYLOAD_TYPE);
        writeString(main, payloadType, Integer.MAX_VALUE, Integer.MAX_VALUE);
        return this;
    }

    /** Adds one metadata pair. A null key is ignored, a null value is sent as "null"; a repeated key keeps its first value. */
    public EntryEncoder metadata(String key, String value) {
        if (key == null) {
            return this;
        }
        for (int i = 0; i < nkeys; i++) {
            if (keys[i].equals(key)) {
                return this;
            }
        }
        if (meta.n > MAX_META_BYTES) {
            return this; // the agent's 1 MiB bound on all metadata
        }
        if (nkeys == keys.length) {
            keys = java.util.Arrays.copyOf(keys, nkeys * 2);
        }
        keys[nkeys++] = key;
        if (meta.n > 0) {
            meta.put((byte) ',');
        }
        writeString(meta, key, Integer.MAX_VALUE, Integer.MAX_VALUE);
        meta.put((byte) ':');
        writeString(meta, value == null ? "null" : value, MAX_META_VALUE_CHARS, Integer.MAX_VALUE);
        return this;
    }

    /**
     * Adds the metadata of a throwable: {@code exception} ("class: message", or the class alone) and
     * {@code stack_trace} (cut, like every value, to the agent's 1024 characters).
     */
    public EntryEncoder exception(String className, String message, String stackTrace) {
        metadata("exception", message == null ? className : className + ": " + message);
        return metadata("stack_trace", stackTrace);
    }

    /** The throwable's stack trace as {@link Throwable#printStackTrace()} prints it, causes included. */
    public static String stackTrace(Throwable t) {
        java.io.StringWriter sw = new java.io.StringWriter();
        t.printStackTrace(new java.io.PrintWriter(sw));
        return sw.toString();
    }

    /** Completes the entry with the default source if none was set. */
    void finish(byte[] defaultSource) {
        if (!begun) {
            invalid = "the record encoder did not call begin";
            return;
        }
        if (!hasPayload && invalid == null) {
            invalid = "payload is empty";
        }
        if (!hasSource) {
            hasSource = true;
            main.put(K_SOURCE);
            main.put(defaultSource);
        }
    }

    /** The length of the finished entry's JSON. */
    int encodedLength() {
        return main.n + (meta.n > 0 ? K_META.length + meta.n + 1 : 0) + 1;
    }

    /** Copies the finished entry's JSON to dst at off; returns the offset after it. */
    int copyTo(byte[] dst, int off) {
        System.arraycopy(main.b, 0, dst, off, main.n);
        off += main.n;
        if (meta.n > 0) {
            System.arraycopy(K_META, 0, dst, off, K_META.length);
            off += K_META.length;
            System.arraycopy(meta.b, 0, dst, off, meta.n);
            off += meta.n;
            dst[off++] = '}';
        }
        dst[off++] = '}';
        return off;
    }

    /** The finished entry's JSON, for tests. */
    byte[] toBytes() {
        byte[] out = new byte[encodedLength()];
        copyTo(out, 0);
        return out;
    }

    static boolean validPayloadType(String s) {
        int n = s.length();
        if (n == 0 || n > MAX_PAYLOAD_TYPE) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.')) {
                return false;
            }
        }
        return true;
    }

    /** Encodes s as a JSON string with no limits (for the client's default source and the secret). */
    static byte[] jsonString(String s) {
        Buf b = new Buf(s.length() + 8);
        writeString(b, s, Integer.MAX_VALUE, Integer.MAX_VALUE);
        return java.util.Arrays.copyOf(b.b, b.n);
    }

    /**
     * Appends s as a JSON string. With more than maxChars code points, the first maxChars-1 are written followed by
     * "…". Stops before the UTF-8 form exceeds maxBytes. Returns true if s was cut.
     */
    static boolean writeString(Buf o, CharSequence s, int maxChars, int maxBytes) {
        int len = s.length();
        int end = len;
        boolean ellipsis = false;
        if (len > maxChars && Character.codePointCount(s, 0, len) > maxChars) {
            end = Character.offsetByCodePoints(s, 0, maxChars - 1);
            ellipsis = true;
        }
        o.ensure(2);
        o.b[o.n++] = '"';
        int bytes = 0;
        boolean cut = ellipsis;
        int i = 0;
        if (end <= maxBytes && s instanceof String) {
            // Fast path for a String's leading run of ASCII with nothing to escape (usually the whole string): one
            // compare and one store a character (String.charAt inlines); the loop below takes over at the first other
            // character.
            String str = (String) s;
            o.ensure(end + 4);
            byte[] b = o.b;
            int n = o.n;
            while (i < end) {
                char c = str.charAt(i);
                if (c >= 0x80 || !SAFE[c]) {
                    break;
                }
                b[n++] = (byte) c;
                i++;
            }
            o.n = n;
            bytes = i;
        }
        outer:
        while (i < end) {
            // Reserve the worst case (6 bytes a char) for a slice at a time.
            int sliceEnd = Math.min(end, i + 2048);
            o.ensure((sliceEnd - i) * 6 + 8);
            byte[] b = o.b;
            int n = o.n;
            while (i < sliceEnd) {
                char c = s.charAt(i);
                if (c < 0x80) {
                    if (++bytes > maxBytes) {
                        o.n = n;
                        cut = true;
                        break outer;
                    }
                    if (SAFE[c]) {
                        b[n++] = (byte) c;
                    } else {
                        b[n++] = '\\';
                        switch (c) {
                            case '"': b[n++] = '"'; break;
                            case '\\': b[n++] = '\\'; break;
                            case '\n': b[n++] = 'n'; break;
                            case '\r': b[n++] = 'r'; break;
                            case '\t': b[n++] = 't'; break;
                            default:
                                b[n++] = 'u';
                                b[n++] = '0';
                                b[n++] = '0';
                                b[n++] = HEX[c >> 4];
                                b[n++] = HEX[c & 0xf];
                        }
                    }
                    i++;
                } else if (c < 0x800) {
                    if ((bytes += 2) > maxBytes) {
                        o.n = n;
                        cut = true;
                        break outer;
                    }
                    b[n++] = (byte) (0xc0 | c >> 6);
                    b[n++] = (byte) (0x80 | c & 0x3f);
                    i++;
                } else if (Character.isSurrogate(c)) {
                    char d;
                    if (Character.isHighSurrogate(c) && i + 1 < len && Character.isLowSurrogate(d = s.charAt(i + 1))) {
                        if ((bytes += 4) > maxBytes) {
                            o.n = n;
                            cut = true;
                            break outer;
                        }
                        int cp = Character.toCodePoint(c, d);
                        b[n++] = (byte) (0xf0 | cp >> 18);
                        b[n++] = (byte) (0x80 | cp >> 12 & 0x3f);
                        b[n++] = (byte) (0x80 | cp >> 6 & 0x3f);
                        b[n++] = (byte) (0x80 | cp & 0x3f);
                        i += 2;
                        if (i > sliceEnd) {
                            sliceEnd = i; // a pair across the slice end
                        }
                    } else {
                        if ((bytes += 3) > maxBytes) {
                            o.n = n;
                            cut = true;
                            break outer;
                        }
                        b[n++] = '\\';
                        b[n++] = 'u';
                        b[n++] = 'f';
                        b[n++] = 'f';
                        b[n++] = 'f';
                        b[n++] = 'd';
                        i++;
                    }
                } else {
                    if ((bytes += 3) > maxBytes) {
                        o.n = n;
                        cut = true;
                        break outer;
                    }
                    if (c == '\u2028' || c == '\u2029') {
                        b[n++] = '\\';
                        b[n++] = 'u';
                        b[n++] = '2';
                        b[n++] = '0';
                        b[n++] = '2';
                        b[n++] = HEX[c & 0xf];
                    } else {
                        b[n++] = (byte) (0xe0 | c >> 12);
                        b[n++] = (byte) (0x80 | c >> 6 & 0x3f);
                        b[n++] = (byte) (0x80 | c & 0x3f);
                    }
                    i++;
                }
            }
            o.n = n;
        }
        o.ensure(4);
        if (ellipsis) {
            o.b[o.n++] = (byte) 0xe2; // "…" U+2026
            o.b[o.n++] = (byte) 0x80;
            o.b[o.n++] = (byte) 0xa6;
        }
        o.b[o.n++] = '"';
        return cut;
    }

    // --- timestamps ---------------------------------------------------------------------------------------------

    /** 9999-12-31T23:59:59Z. */
    static final long MAX_EPOCH_SECOND = 253402300799L;

    /** The date and time of day of one second, formatted once and shared by every encoder. */
    private static final class SecondText {
        final long sec;
        final byte[] text;

        SecondText(long sec, byte[] text) {
            this.sec = sec;
            this.text = text;
        }
    }

    private static volatile SecondText secondCache;

    /** Appends the RFC 3339 UTC time, without the opening quote, with the closing one. */
    static void writeTimestamp(Buf o, long sec, int nano) {
        SecondText t = secondCache;
        if (t == null || t.sec != sec) {
            t = new SecondText(sec, formatSecond(sec));
            secondCache = t;
        }
        o.ensure(32);
        byte[] b = o.b;
        int n = o.n;
        System.arraycopy(t.text, 0, b, n, 19);
        n += 19;
        if (nano > 0) {
            int digits = 9;
            int v = nano;
            while (v % 10 == 0) {
                v /= 10;
                digits--;
            }
            b[n++] = '.';
            for (int i = digits - 1; i >= 0; i--) {
                b[n + i] = (byte) ('0' + v % 10);
                v /= 10;
            }
            n += digits;
        }
        b[n++] = 'Z';
        b[n++] = '"';
        o.n = n;
    }

    /** Formats "yyyy-MM-ddTHH:mm:ss" for a second in years 0000-9999 (civil-from-days, proleptic Gregorian). */
    static byte[] formatSecond(long sec) {
        long days = Math.floorDiv(sec, 86400L);
        int sod = (int) Math.floorMod(sec, 86400L);
        long z = days + 719468;
        long era = Math.floorDiv(z, 146097);
        long doe = z - era * 146097;
        long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        long y = yoe + era * 400;
        long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        long mp = (5 * doy + 2) / 153;
        int d = (int) (doy - (153 * mp + 2) / 5 + 1);
        int m = (int) (mp < 10 ? mp + 3 : mp - 9);
        if (m <= 2) {
            y++;
        }
        byte[] t = new byte[19];
        put(t, 0, (int) y, 4);
        t[4] = '-';
        put(t, 5, m, 2);
        t[7] = '-';
        put(t, 8, d, 2);
        t[10] = 'T';
        put(t, 11, sod / 3600, 2);
        t[13] = ':';
        put(t, 14, sod / 60 % 60, 2);
        t[16] = ':';
        put(t, 17, sod % 60, 2);
        return t;
    }

    private static void put(byte[] t, int off, int v, int width) {
        for (int i = off + width - 1; i >= off; i--) {
            t[i] = (byte) ('0' + v % 10);
            v /= 10;
        }
    }
}
