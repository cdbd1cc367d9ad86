package org.logflux.agent.internal;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON reader for the agent's answers (and the tests' vectors): objects become {@code Map}, arrays
 * {@code List}, strings {@code String}, integers {@code Long}, other numbers {@code Double}, and {@code true},
 * {@code false}, {@code null} themselves. Not exported from the module.
 */
public final class Json {
    private final byte[] b;
    private int i;
    private final int end;

    private Json(byte[] b, int off, int len) {
        this.b = b;
        this.i = off;
        this.end = off + len;
    }

    /** Parses one JSON value filling the whole of b[off, off+len), surrounding whitespace allowed. */
    public static Object parse(byte[] b, int off, int len) {
        Json p = new Json(b, off, len);
        p.ws();
        Object v = p.value();
        p.ws();
        if (p.i != p.end) {
            throw p.err("trailing data");
        }
        return v;
    }

    public static Object parse(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return parse(b, 0, b.length);
    }

    /** Parses a JSON object. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(byte[] b, int off, int len) {
        Object v = parse(b, off, len);
        if (!(v instanceof Map)) {
            throw new IllegalArgumentException("JSON: not an object");
        }
        return (Map<String, Object>) v;
    }

    public static Map<String, Object> parseObject(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return parseObject(b, 0, b.length);
    }

    private IllegalArgumentException err(String what) {
        return new IllegalArgumentException("JSON: " + what + " at offset " + i);
    }

    private void ws() {
        while (i < end && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')) {
            i++;
        }
    }

    private Object value() {
        if (i >= end) {
            throw err("unexpected end");
        }
        switch (b[i]) {
            case '{':
                return object();
            case '[':
                return array();
            case '"':
                return string();
            case 't':
                return literal("true", Boolean.TRUE);
            case 'f':
                return literal("false", Boolean.FALSE);
            case 'n':
                return literal("null", null);
            default:
                return number();
        }
    }

    private Object literal(String word, Object v) {
        for (int k = 0; k < word.length(); k++) {
            if (i + k >= end || b[i + k] != word.charAt(k)) {
                throw err("bad literal");
            }
        }
        i += word.length();
        return v;
    }

    private Map<String, Object> object() {
        Map<String, Object> m = new LinkedHashMap<>();
        i++;
        ws();
        if (i < end && b[i] == '}') {
            i++;
            return m;
        }
        while (true) {
            ws();
            if (i >= end || b[i] != '"') {
                throw err("want a key");
            }
            String k = string();
            ws();
            if (i >= end || b[i] != ':') {
                throw err("want ':'");
            }
            i++;
            ws();
            m.put(k, value());
            ws();
            if (i < end && b[i] == ',') {
                i++;
                continue;
            }
            if (i < end && b[i] == '}') {
                i++;
                return m;
            }
            throw err("want ',' or '}'");
        }
    }

    private List<Object> array() {
        List<Object> l = new ArrayList<>();
        i++;
        ws();
        if (i < end && b[i] == ']') {
            i++;
            return l;
        }
        while (true) {
            ws();
            l.add(value());
            ws();
            if (i < end && b[i] == ',') {
                i++;
                continue;
            }
            if (i < end && b[i] == ']') {
                i++;
                return l;
            }
            throw err("want ',' or ']'");
        }
    }

    private String string() {
        i++; // opening quote
        int start = i;
        while (i < end && b[i] != '"' && b[i] != '\\') {
            if ((b[i] & 0xff) < 0x20) {
                throw err("control character in string");
            }
            i++;
        }
        if (i < end && b[i] == '"') {
            String s = new String(b, start, i - start, StandardCharsets.UTF_8);
            i++;
            return s;
        }
        StringBuilder sb = new StringBuilder(new String(b, start, i - start, StandardCharsets.UTF_8));
        int runStart = i;
        while (true) {
            if (i >= end) {
                throw err("unterminated string");
            }
            byte c = b[i];
            if (c == '"') {
                sb.append(new String(b, runStart, i - runStart, StandardCharsets.UTF_8));
                i++;
                return sb.toString();
            }
            if ((c & 0xff) < 0x20) {
                throw err("control character in string");
            }
            if (c != '\\') {
                i++;
                continue;
            }
            sb.append(new String(b, runStart, i - runStart, StandardCharsets.UTF_8));
            if (i + 1 >= end) {
                throw err("bad escape");
            }
            char e = (char) b[i + 1];
            i += 2;
            switch (e) {
                case '"': sb.append('"'); break;
                case '\\': sb.append('\\'); break;
                case '/': sb.append('/'); break;
                case 'b': sb.append('\b'); break;
                case 'f': sb.append('\f'); break;
                case 'n': sb.append('\n'); break;
                case 'r': sb.append('\r'); break;
                case 't': sb.append('\t'); break;
                case 'u':
                    if (i + 4 > end) {
                        throw err("bad \\u escape");
                    }
                    int cp = 0;
                    for (int k = 0; k < 4; k++) {
                        int d = Character.digit(b[i + k], 16);
                        if (d < 0) {
                            throw err("bad \\u escape");
                        }
                        cp = cp * 16 + d;
                    }
                    i += 4;
                    sb.append((char) cp);
                    break;
                default:
                    throw err("bad escape");
            }
            runStart = i;
        }
    }

    private Object number() {
        int start = i;
        if (i < end && b[i] == '-') {
            i++;
        }
        boolean integer = true;
        while (i < end) {
            byte c = b[i];
            if (c >= '0' && c <= '9') {
                i++;
            } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
                integer = false;
                i++;
            } else {
                break;
            }
        }
        String s = new String(b, start, i - start, StandardCharsets.US_ASCII);
        if (s.isEmpty() || s.equals("-")) {
            throw err("unexpected character");
        }
        try {
            if (integer) {
                return Long.parseLong(s);
            }
            return Double.parseDouble(s);
        } catch (NumberFormatException e) {
            throw err("bad number " + s);
        }
    }
}
