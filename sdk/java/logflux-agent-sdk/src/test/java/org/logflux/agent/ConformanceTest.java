package org.logflux.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.logflux.agent.internal.Json;
import org.logflux.agent.testing.RealAgent;

/**
 * The language-neutral conformance vectors in testdata/protocol/cases (format: testdata/protocol/README.md), run
 * against the real agent through the SDK's own wire code: its address parsing and socket addresses
 * ({@link Endpoint}), its answer line reader ({@link LineReader}) and JSON reader ({@link Json}), its encoder
 * ({@link EntryEncoder}) and the whole client for the entries the vectors accept.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(300)
class ConformanceTest {
    @TempDir
    static Path dir;
    RealAgent agent;
    RealAgent.Tail tail;
    RealAgent timeoutAgent;
    int sentinels;

    /** A case of the vectors, with the file it came from. */
    record Case(String file, Map<String, Object> c) {
        String name() {
            return (String) c.get("name");
        }

        @SuppressWarnings("unchecked")
        List<Map<String, Object>> steps() {
            return (List<Map<String, Object>>) c.get("steps");
        }

        @SuppressWarnings("unchecked")
        List<Map<String, Object>> output() {
            return c.get("output") == null ? List.of() : (List<Map<String, Object>>) c.get("output");
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> agentSetup() {
            return (Map<String, Object>) c.get("agent");
        }
    }

    static Path vectorsDir() {
        String p = System.getProperty("logflux.vectors.dir");
        if (p == null || p.startsWith("${")) {
            p = "../../../testdata/protocol/cases";
        }
        return Path.of(p);
    }

    @SuppressWarnings("unchecked")
    static List<Case> loadVectors() throws IOException {
        List<Case> all = new ArrayList<>();
        try (Stream<Path> files = Files.list(vectorsDir())) {
            for (Path f : files.filter(x -> x.toString().endsWith(".json")).sorted().toList()) {
                Map<String, Object> doc = Json.parseObject(Files.readString(f));
                for (Object c : (List<Object>) doc.get("cases")) {
                    all.add(new Case(f.getFileName().toString(), (Map<String, Object>) c));
                }
            }
        }
        if (all.isEmpty()) {
            throw new IllegalStateException("no conformance vectors in " + vectorsDir());
        }
        return all;
    }

    @BeforeAll
    void startAgent() throws IOException {
        agent = RealAgent.startWithTcp(Files.createDirectory(dir.resolve("agent")));
        tail = agent.tail();
    }

    @AfterAll
    void stopAgents() {
        if (agent != null) {
            agent.stop();
        }
        if (timeoutAgent != null) {
            timeoutAgent.stop();
        }
    }

    // --- the vectors' matching rules ---------------------------------------------------------------------------------

    static final Pattern UUID_RE = Pattern.compile("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");

    /** How actual differs from expected under the vectors' rules, or null when it matches. */
    static String match(Object expected, Object actual, boolean present, Map<String, Object> entry, String path) {
        if (expected instanceof String && ((String) expected).startsWith("$")) {
            String s = (String) expected;
            if (s.equals("$absent")) {
                return present ? path + ": want absent, got " + actual : null;
            }
            if (!present) {
                return path + ": missing (want " + s + ")";
            }
            switch (s) {
                case "$any":
                    return null;
                case "$uuid":
                    return actual instanceof String && UUID_RE.matcher((String) actual).matches() ? null
                            : path + ": " + actual + " is not a lowercase UUID";
                case "$rfc3339utc":
                    try {
                        DateTimeFormatter.ISO_OFFSET_DATE_TIME.parse((String) actual);
                        return ((String) actual).endsWith("Z") ? null : path + ": " + actual + " is not UTC";
                    } catch (RuntimeException e) {
                        return path + ": " + actual + " is not an RFC 3339 time";
                    }
                case "$receivedAt":
                    return entry != null && actual.equals(entry.get("receivedAt")) ? null
                            : path + ": " + actual + " is not receivedAt";
                default:
                    if (s.startsWith("$len:")) {
                        int n = Integer.parseInt(s.substring(5));
                        return actual instanceof String && ((String) actual).getBytes(StandardCharsets.UTF_8).length == n
                                ? null : path + ": want a string of " + n + " bytes";
                    }
            }
        }
        if (!present) {
            return path + ": missing (want " + short_(expected) + ")";
        }
        if (expected instanceof Map) {
            if (!(actual instanceof Map)) {
                return path + ": want an object, got " + short_(actual);
            }
            Map<?, ?> a = (Map<?, ?>) actual;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) expected).entrySet()) {
                String d = match(e.getValue(), a.get(e.getKey()), a.containsKey(e.getKey()), entry, path + "." + e.getKey());
                if (d != null) {
                    return d;
                }
            }
            return null;
        }
        if (expected instanceof List) {
            if (!(actual instanceof List) || ((List<?>) actual).size() != ((List<?>) expected).size()) {
                return path + ": want " + short_(expected) + ", got " + short_(actual);
            }
            for (int i = 0; i < ((List<?>) expected).size(); i++) {
                String d = match(((List<?>) expected).get(i), ((List<?>) actual).get(i), true, entry, path + "[" + i + "]");
                if (d != null) {
                    return d;
                }
            }
            return null;
        }
        return expected.equals(actual) ? null : path + ": want " + short_(expected) + ", got " + short_(actual);
    }

    static String short_(Object o) {
        String s = String.valueOf(o);
        return s.length() > 200 ? s.substring(0, 200) + "…" : s;
    }

    /** What a step writes, line end included. */
    @SuppressWarnings("unchecked")
    static byte[] stepBytes(Map<String, Object> step) {
        if (step.containsKey("send_raw")) {
            return Base64.getDecoder().decode((String) step.get("send_raw"));
        }
        String text = ((String) step.get("send")).replace("@SECRET@", RealAgent.SECRET);
        Map<String, Object> expand = (Map<String, Object>) step.get("expand");
        if (expand != null) {
            for (Map.Entry<String, Object> e : expand.entrySet()) {
                Map<String, Object> x = (Map<String, Object>) e.getValue();
                text = text.replace(e.getKey(), ((String) x.get("repeat")).repeat((int) (long) (Long) x.get("count")));
            }
        }
        return (text + "\n").getBytes(StandardCharsets.UTF_8);
    }

    // --- running a case on the real agent --------------------------------------------------------------------------

    @TestFactory
    Stream<DynamicTest> vectorsOnTheRealAgent() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Case c : loadVectors()) {
            String t = (String) c.c().get("transport");
            if (t.equals("any") || t.equals("unix")) {
                tests.add(DynamicTest.dynamicTest(c.file() + "/" + c.name() + " (unix)", () -> run(c, false)));
            }
            if (t.equals("any") || t.equals("tcp")) {
                tests.add(DynamicTest.dynamicTest(c.file() + "/" + c.name() + " (tcp)", () -> run(c, true)));
            }
        }
        return tests.stream();
    }

    private RealAgent agentFor(Case c) throws IOException {
        Map<String, Object> setup = c.agentSetup();
        if (setup == null) {
            return agent;
        }
        if (setup.containsKey("output")) {
            Assumptions.abort("needs an agent whose output is stalled, which this runner cannot set up");
        }
        if (setup.keySet().equals(java.util.Set.of("auth_timeout_ms"))) {
            if (timeoutAgent == null) {
                Path d = Files.createDirectory(dir.resolve("timeout-agent"));
                Path cfg = d.resolve("agent.yaml");
                Files.writeString(cfg, "tcp:\n  auth_timeout: " + setup.get("auth_timeout_ms") + "ms\n");
                timeoutAgent = RealAgent.startWithTcp(d, "--config", cfg.toString());
            }
            return timeoutAgent;
        }
        Assumptions.abort("needs agent setup " + setup + " that this runner does not offer");
        return null;
    }

    private void run(Case c, boolean tcp) throws Exception {
        RealAgent a = agentFor(c);
        Endpoint ep = Endpoint.parse(tcp ? a.tcpAddressString() : a.unixAddress());
        int before = a == agent ? tail.poll().size() : 0;
        try (SocketChannel ch = ep.unix ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open()) {
            ch.connect(ep.socketAddress());
            LineReader lines = new LineReader();
            if (tcp && c.c().get("transport").equals("any")) {
                write(ch, ("{\"version\":\"1.0\",\"action\":\"authenticate\",\"shared_secret\":\"" + RealAgent.SECRET + "\"}\n")
                        .getBytes(StandardCharsets.UTF_8));
                assertEquals("success", Json.parseObject(new String(lines.readLine(ch), StandardCharsets.UTF_8)).get("status"));
            }
            int i = 0;
            for (Map<String, Object> st : c.steps()) {
                if (st.containsKey("send") || st.containsKey("send_raw")) {
                    try {
                        write(ch, stepBytes(st));
                    } catch (IOException e) {
                        // the agent may close while a big line is written; the next expect tells
                    }
                } else if (st.containsKey("wait_ms")) {
                    RealAgent.sleep((Long) st.get("wait_ms"));
                } else if (st.containsKey("expect")) {
                    byte[] line = lines.readLine(ch);
                    if (line == null) {
                        fail("step " + i + ": connection closed, want " + st.get("expect"));
                    }
                    Object got = Json.parse(new String(line, StandardCharsets.UTF_8));
                    String d = match(st.get("expect"), got, true, null, "answer");
                    if (d != null) {
                        fail("step " + i + ": " + d + "\n(" + new String(line, StandardCharsets.UTF_8) + ")");
                    }
                } else if (Boolean.TRUE.equals(st.get("expect_closed"))) {
                    byte[] line;
                    try {
                        line = lines.readLine(ch);
                    } catch (IOException e) {
                        line = null; // reset by the agent: closed too
                    }
                    if (line != null) {
                        fail("step " + i + ": want the connection closed, got " + new String(line, StandardCharsets.UTF_8));
                    }
                }
                i++;
            }
        }
        if (a != agent) {
            return;
        }
        List<Map<String, Object>> got = sinceSentinel(before);
        List<Map<String, Object>> want = c.output();
        assertEquals(want.size(), got.size(), () -> "stored " + short_(got) + ", the vector " + short_(want));
        for (int k = 0; k < want.size(); k++) {
            String d = match(want.get(k), got.get(k), true, got.get(k), "output[" + k + "]");
            if (d != null) {
                fail(d);
            }
        }
    }

    private static void write(SocketChannel ch, byte[] b) throws IOException {
        ByteBuffer bb = ByteBuffer.wrap(b);
        while (bb.hasRemaining()) {
            ch.write(bb);
        }
    }

    /**
     * The entries stored since index before, up to a sentinel entry sent (and flushed) on a fresh connection after the
     * case: the agent accepted the case's entries before the sentinel, so they are stored before it.
     */
    private List<Map<String, Object>> sinceSentinel(int before) throws Exception {
        String marker = "sentinel-" + (++sentinels);
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(Endpoint.parse(agent.unixAddress()).socketAddress());
            write(ch, ("{\"payload\":\"" + marker + "\",\"entryType\":1,\"source\":\"conformance\",\"logLevel\":7}\n"
                    + "{\"version\":\"1.0\",\"action\":\"flush\"}\n").getBytes(StandardCharsets.UTF_8));
            assertEquals("flush", Json.parseObject(new String(new LineReader().readLine(ch), StandardCharsets.UTF_8)).get("action"));
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (true) {
            List<Map<String, Object>> all = tail.poll();
            for (int k = before; k < all.size(); k++) {
                if (marker.equals(all.get(k).get("payload"))) {
                    return new ArrayList<>(all.subList(before, k));
                }
            }
            if (System.nanoTime() > deadline) {
                fail("sentinel " + marker + " not stored in 20 s");
            }
            RealAgent.sleep(10);
        }
    }

    // --- the SDK's encoder against the vectors ---------------------------------------------------------------------

    /** The SDK Entry for an entry a vector's output holds. A "$len:N" payload becomes N bytes. */
    @SuppressWarnings("unchecked")
    static Entry vectorEntry(Map<String, Object> out) {
        String payload = (String) out.get("payload");
        if (payload.startsWith("$len:")) {
            payload = "a".repeat(Integer.parseInt(payload.substring(5)));
        }
        Entry e = Entry.of(Level.ofCode((int) (long) (Long) out.get("logLevel")), payload);
        long type = (Long) out.get("entryType");
        e.type(EntryType.values()[(int) type - 1]);
        e.source((String) out.get("source"));
        if (out.get("payloadType") instanceof String && !((String) out.get("payloadType")).startsWith("$")) {
            e.payloadType((String) out.get("payloadType"));
        }
        String ts = (String) out.get("timestamp");
        if (ts != null && !ts.startsWith("$")) {
            e.timestamp(Instant.parse(ts));
        }
        if (out.get("metadata") instanceof Map) {
            ((Map<String, Object>) out.get("metadata")).forEach((k, v) -> e.metadata(k, (String) v));
        }
        return e;
    }

    /** Every entry the agent accepts in a vector, logged through the client, is stored as the vector says. */
    @Test
    void theAgentStoresWhatTheSdkEncodesForAcceptedEntries() throws Exception {
        List<Map<String, Object>> outs = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (Case c : loadVectors()) {
            for (Map<String, Object> o : c.output()) {
                outs.add(o);
                names.add(c.file() + "/" + c.name());
            }
        }
        assertTrue(outs.size() > 10, "the vectors hold accepted entries");
        Path d = Files.createDirectory(dir.resolve("sdk-agent"));
        try (RealAgent a = RealAgent.startUnix(d)) {
            try (LogfluxClient c = LogfluxClient.builder().address(a.unixAddress()).shutdownHook(false)
                    .queueBytes(64 << 20).build()) {
                for (int i = 0; i < outs.size(); i++) {
                    assertTrue(c.log(vectorEntry(outs.get(i))), names.get(i) + ": the SDK refuses what the agent accepts");
                }
                assertTrue(c.flush(Duration.ofSeconds(60)), () -> c.stats().toString());
            }
            List<Map<String, Object>> stored = a.waitStored(outs.size(), Duration.ofSeconds(30));
            assertEquals(outs.size(), stored.size());
            for (int i = 0; i < outs.size(); i++) {
                Map<String, Object> want = new LinkedHashMap<>(outs.get(i));
                if ("$receivedAt".equals(want.get("timestamp"))) {
                    want.put("timestamp", "$rfc3339utc"); // the SDK stamps the time of the log call
                }
                String diff = match(want, stored.get(i), true, stored.get(i), "stored");
                if (diff != null) {
                    fail(names.get(i) + ": " + short_(diff));
                }
            }
        }
    }

    /** Every entry the agent refuses for a field the SDK lets a user set, the SDK refuses before sending. */
    @Test
    @SuppressWarnings("unchecked")
    void theSdkRefusesWhatTheAgentRefuses() throws Exception {
        int checked = 0;
        for (Case c : loadVectors()) {
            List<Map<String, Object>> steps = c.steps();
            if (steps.size() < 2 || !steps.get(0).containsKey("send") || !(steps.get(1).get("expect") instanceof Map)) {
                continue;
            }
            Map<String, Object> expect = (Map<String, Object>) steps.get(1).get("expect");
            if (!"invalid_entry".equals(expect.get("code")) || !(expect.get("errors") instanceof List)
                    || ((List<?>) expect.get("errors")).size() != 1) {
                continue;
            }
            String field = (String) ((Map<String, Object>) ((List<?>) expect.get("errors")).get(0)).get("field");
            field = field.split("\\.", 2)[0];
            Map<String, Object> raw;
            try {
                raw = Json.parseObject(new String(stepBytes(steps.get(0)), StandardCharsets.UTF_8).trim());
            } catch (IllegalArgumentException e) {
                continue;
            }
            // Only refusals a Java caller can produce with the SDK's types: a string payload, the field's own type.
            if (!(raw.get("payload") instanceof String) || !(raw.get("entryType") instanceof Long)
                    || !(raw.get("logLevel") instanceof Long) || raw.containsKey("version")) {
                continue;
            }
            String payload = (String) raw.get("payload");
            Object source = raw.get("source");
            Object payloadType = raw.get("payloadType");
            Object metadata = raw.get("metadata");
            boolean expressible;
            switch (field) {
                case "payload":
                    expressible = true;
                    break;
                case "source":
                    expressible = source instanceof String && !((String) source).isEmpty();
                    break;
                case "payloadType":
                    expressible = payloadType instanceof String;
                    break;
                case "metadata":
                    expressible = metadata instanceof Map && ((Map<String, Object>) metadata).values().stream().allMatch(v -> v instanceof String);
                    break;
                default:
                    expressible = false; // entryType and logLevel are enums in the SDK; out-of-range cannot be made
            }
            if (!expressible) {
                continue;
            }
            checked++;
            Entry e = Entry.info(payload);
            if (source instanceof String) {
                e.source((String) source);
            }
            if (payloadType instanceof String) {
                e.payloadType((String) payloadType);
            }
            if (metadata instanceof Map) {
                ((Map<String, Object>) metadata).forEach((k, v) -> e.metadata(k, (String) v));
            }
            EntryEncoder enc = new EntryEncoder();
            enc.begin(EntryType.LOG, Level.INFO, 0, 0);
            e.encodeInto(enc);
            enc.finish(EntryEncoder.jsonString("x"));
            if (field.equals("metadata")) {
                // The SDK cuts a long value to the limit rather than refuse: what it sends is within the limit.
                byte[] b = enc.toBytes();
                Map<String, Object> md = (Map<String, Object>) Json.parseObject(b, 0, b.length).get("metadata");
                for (Object v : md.values()) {
                    String s = (String) v;
                    assertTrue(s.codePointCount(0, s.length()) <= 1024, c.name() + ": sends a metadata value over the limit");
                }
                continue;
            }
            assertTrue(enc.invalid != null, c.name() + " (" + c.c().get("description") + "): the agent refuses field "
                    + field + ", the SDK accepts it");
        }
        assertTrue(checked > 0, "no vector applied");
    }
}
