package org.logflux.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.logflux.agent.internal.Json;

class EntryEncoderTest {
    static final byte[] SOURCE = EntryEncoder.jsonString("src");

    static Map<String, Object> encode(Entry e) {
        EntryEncoder enc = new EntryEncoder();
        Instant ts = e.timestamp() == null ? Instant.EPOCH : e.timestamp();
        enc.begin(e.type(), e.level(), ts.getEpochSecond(), ts.getNano());
        e.encodeInto(enc);
        enc.finish(SOURCE);
        assertNull(enc.invalid, enc.invalid);
        byte[] b = enc.toBytes();
        return Json.parseObject(b, 0, b.length);
    }

    @Test
    void fieldsAreTheAgentApis() {
        Map<String, Object> m = encode(Entry.critical("boom").type(EntryType.EVENT).payloadType("generic_json")
                .metadata("a", "1").metadata("b", "2").metadata("a", "3")
                .timestamp(Instant.parse("2024-02-29T23:59:59.5Z")));
        assertEquals("boom", m.get("payload"));
        assertEquals(3L, m.get("logLevel"));
        assertEquals(4L, m.get("entryType"));
        assertEquals("src", m.get("source"));
        assertEquals("generic_json", m.get("payloadType"));
        assertEquals("2024-02-29T23:59:59.5Z", m.get("timestamp"));
        assertEquals(Map.of("a", "3", "b", "2"), m.get("metadata"), "Entry.metadata replaces a key");
    }

    @Test
    void stringsRoundTripThroughJson() {
        Random r = new Random(1);
        for (int i = 0; i < 2000; i++) {
            StringBuilder sb = new StringBuilder();
            int n = 1 + r.nextInt(40);
            for (int k = 0; k < n; k++) {
                switch (r.nextInt(6)) {
                    case 0: sb.append((char) r.nextInt(0x20)); break;
                    case 1: sb.append("\"\\/"); break;
                    case 2: sb.append((char) (0x80 + r.nextInt(0x780))); break;
                    case 3: sb.append("€\u2028\u2029"); break;
                    case 4: sb.appendCodePoint(0x1F600 + r.nextInt(50)); break;
                    default: sb.append((char) ('a' + r.nextInt(26)));
                }
            }
            String s = sb.toString();
            assertEquals(s, encode(Entry.info(s).metadata(s, s)).get("payload"));
            assertEquals(Map.of(s, s), encode(Entry.info(s).metadata(s, s)).get("metadata"));
        }
    }

    @Test
    void loneSurrogatesBecomeReplacementCharacters() {
        assertEquals("a\uFFFDb\uFFFD", encode(Entry.info("a\uD800b\uDC00")).get("payload"));
    }

    @Test
    void longMetadataValuesAreCutTo1024Characters() {
        String v = "é".repeat(2000);
        Map<?, ?> md = (Map<?, ?>) encode(Entry.info("x").metadata("k", v)).get("metadata");
        String got = (String) md.get("k");
        assertEquals(1024, got.codePointCount(0, got.length()));
        assertTrue(got.endsWith("…"));
        String exact = "x".repeat(1024);
        assertEquals(exact, ((Map<?, ?>) encode(Entry.info("x").metadata("k", exact)).get("metadata")).get("k"));
    }

    @Test
    void encoderCutsLongPayloadsAtOneMebibyteOfUtf8() {
        EntryEncoder enc = new EntryEncoder();
        enc.begin(EntryType.LOG, Level.INFO, 0, 0);
        enc.payload("€".repeat(400_000)); // 1.2 MB of UTF-8
        enc.finish(SOURCE);
        byte[] b = enc.toBytes();
        String p = (String) Json.parseObject(b, 0, b.length).get("payload");
        assertTrue(p.getBytes(StandardCharsets.UTF_8).length <= 1 << 20);
        assertEquals((1 << 20) / 3, p.length());
    }

    @Test
    void entryRefusesWhatTheAgentRefuses() {
        for (Entry e : new Entry[] {
            Entry.info(""), Entry.info(null), Entry.info("x".repeat((1 << 20) + 1)), Entry.info("x").payloadType("bad type"),
            Entry.info("x").source("s".repeat(257)),
        }) {
            EntryEncoder enc = new EntryEncoder();
            enc.begin(EntryType.LOG, Level.INFO, 0, 0);
            e.encodeInto(enc);
            enc.finish(SOURCE);
            assertTrue(enc.invalid != null, e.toString());
        }
    }

    @Test
    void encoderKeepsTheFirstValueOfARepeatedKey() {
        EntryEncoder enc = new EntryEncoder();
        enc.begin(EntryType.LOG, Level.INFO, 0, 0);
        enc.metadata("k", "first").payload("p").metadata("k", "second").source("s");
        enc.finish(SOURCE);
        byte[] b = enc.toBytes();
        Map<String, Object> m = Json.parseObject(b, 0, b.length);
        assertEquals(Map.of("k", "first"), m.get("metadata"));
        assertEquals("s", m.get("source"));
    }

    @Test
    void timestampsMatchTheJdksFormatter() {
        Random r = new Random(7);
        for (int i = 0; i < 5000; i++) {
            long sec = (long) (r.nextDouble() * EntryEncoder.MAX_EPOCH_SECOND);
            int nano = r.nextInt(4) == 0 ? 0 : r.nextInt(1_000_000_000);
            Instant t = Instant.ofEpochSecond(sec, nano);
            EntryEncoder.Buf b = new EntryEncoder.Buf(40);
            EntryEncoder.writeTimestamp(b, sec, nano);
            String got = new String(b.b, 0, b.n - 1, StandardCharsets.US_ASCII); // without the closing quote
            assertEquals(Instant.from(DateTimeFormatter.ISO_INSTANT.parse(got)), t, got);
        }
    }

    @Test
    void builderReportsEveryProblemAtOnce() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LogfluxClient.builder()
                .address("tcp://localhost").queueBytes(10).flushInterval(java.time.Duration.ZERO).shutdownHook(false)
                .fallbackMaxBytes(-1).build());
        String m = e.getMessage();
        for (String want : new String[] {"want tcp://host:port", "queueBytes 10", "flushInterval", "fallbackMaxBytes"}) {
            assertTrue(m.contains(want), m);
        }
        e = assertThrows(IllegalArgumentException.class, () -> LogfluxClient.builder().address("tcp://127.0.0.1:9999")
                .env(Map.of()).shutdownHook(false).build());
        assertTrue(e.getMessage().contains("needs a shared secret"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LogfluxClient.builder().env(Map.of("LOGFLUX_AGENT_ADDR", "unix://rel"))
                .shutdownHook(false).build());
        assertTrue(e.getMessage().contains("LOGFLUX_AGENT_ADDR"), e.getMessage());
    }

    @Test
    void discoveryOrder() {
        assertEquals("[unix:///tmp/logflux-agent.sock, unix:///var/run/logflux-agent/agent.sock]",
                Endpoint.discover(null, k -> null).toString());
        assertEquals("[tcp://127.0.0.1:9999]", Endpoint.discover(null, Map.of("LOGFLUX_AGENT_ADDR", "tcp://127.0.0.1:9999")::get).toString());
        assertEquals("[unix:///x.sock]", Endpoint.discover("unix:///x.sock", Map.of("LOGFLUX_AGENT_ADDR", "tcp://h:1")::get).toString());
        assertEquals("[tcp://[::1]:7]", Endpoint.discover("tcp://[::1]:7", k -> null).toString());
    }

    @Test
    void backoffGrowsWithJitterUpToTheCap() {
        Backoff b = new Backoff(10, 1000);
        long max = 0;
        for (int i = 0; i < 50; i++) {
            long d = b.nextNanos();
            assertTrue(d >= 10 && d <= 1000, Long.toString(d));
            max = Math.max(max, d);
        }
        assertTrue(max > 500, "the cap is reached: " + max);
        b.reset();
        assertTrue(b.nextNanos() <= 20);
    }
}
