package org.logflux.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.logflux.agent.internal.Json;
import org.logflux.agent.testing.RealAgent;

/** The client against the real agent binary. */
@Timeout(120)
class ClientAgentTest {
    @TempDir
    Path dir;

    static LogfluxClient.Builder builder(String addr) {
        return LogfluxClient.builder().address(addr).source("java-test").shutdownHook(false)
                .flushInterval(Duration.ofMillis(100)).backoff(Duration.ofMillis(20), Duration.ofMillis(500));
    }

    @Test
    void unixSocketDeliversEntriesWithTheirFields() throws Exception {
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            Instant ts = Instant.parse("2025-08-31T10:30:00.123456789Z");
            try (LogfluxClient c = builder(agent.unixAddress()).build()) {
                for (int i = 0; i < 1000; i++) {
                    assertTrue(c.log(Entry.warning("entry " + i + " \"quoted\" ünïcødé ✓ 🎉\n").metadata("i", Integer.toString(i))
                            .metadata("orderId", "42").timestamp(ts)));
                }
                assertTrue(c.log(Entry.error("typed").type(EntryType.AUDIT).source("other").payloadType("generic_json")));
                assertTrue(c.flush(Duration.ofSeconds(20)), () -> c.stats().toString());
                Stats s = c.stats();
                assertEquals(1001, s.logged());
                assertEquals(1001, s.sent());
                assertEquals(1001, s.confirmed());
                assertEquals(0, s.queued());
                assertTrue(s.connected());
            }
            List<Map<String, Object>> stored = agent.waitStored(1001, Duration.ofSeconds(20));
            assertEquals(1001, stored.size());
            for (int i = 0; i < 1000; i++) {
                Map<String, Object> e = stored.get(i);
                assertEquals("entry " + i + " \"quoted\" ünïcødé ✓ 🎉\n", e.get("payload"));
                assertEquals(5L, e.get("logLevel"));
                assertEquals(1L, e.get("entryType"));
                assertEquals("java-test", e.get("source"));
                assertEquals("2025-08-31T10:30:00.123456789Z", e.get("timestamp"));
                assertEquals(Map.of("i", Integer.toString(i), "orderId", "42"), e.get("metadata"));
            }
            Map<String, Object> last = stored.get(1000);
            assertEquals(5L, last.get("entryType"));
            assertEquals("other", last.get("source"));
            assertEquals("generic_json", last.get("payloadType"));
        }
    }

    /** A record handed over as it is and encoded on the sender thread (what the Logback appender does). */
    record Order(int n, String note) {
    }

    @Test
    void deferredRecordsArriveInOrderAndABrokenEncoderLosesOnlyItsRecord() throws Exception {
        List<LogfluxException> errors = new CopyOnWriteArrayList<>();
        RecordEncoder<Order> encode = (o, e) -> {
            if (o.note().equals("bad")) {
                throw new IllegalStateException("cannot encode order " + o.n());
            }
            if (o.note().equals("no begin")) {
                e.payload("never begun");
                return;
            }
            e.begin(Level.NOTICE, 1_756_636_200L, 5_000).payload("order " + o.n() + " " + o.note())
                    .metadata("thread", Thread.currentThread().getName());
        };
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            try (LogfluxClient c = builder(agent.unixAddress()).onError(errors::add).build()) {
                for (int i = 0; i < 2000; i++) {
                    String note = i == 700 ? "bad" : i == 900 ? "no begin" : "ok";
                    assertTrue(c.log(new Order(i, note), 64, encode));
                }
                assertTrue(c.flush(Duration.ofSeconds(20)), () -> c.stats().toString());
                Stats s = c.stats();
                assertEquals(2, s.dropped(Stats.DROP_INVALID), s.toString());
                assertEquals(1998, s.confirmed(), s.toString());
                assertEquals(0, s.queued());
            }
            List<Map<String, Object>> stored = agent.waitStored(1998, Duration.ofSeconds(20));
            List<String> want = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                if (i != 700 && i != 900) {
                    want.add("order " + i + " ok");
                }
            }
            assertEquals(want, RealAgent.payloads(stored));
            assertEquals("2025-08-31T10:30:00.000005Z", stored.get(0).get("timestamp"));
            assertEquals(6L, stored.get(0).get("logLevel"));
            assertEquals(Map.of("thread", "logflux-sender"), stored.get(0).get("metadata"));
        }
        assertTrue(errors.stream().anyMatch(e -> e.kind() == LogfluxException.Kind.DROPPED
                && e.getMessage().contains("cannot encode order 700")), errors.toString());
        assertTrue(errors.stream().anyMatch(e -> e.kind() == LogfluxException.Kind.DROPPED
                && e.getMessage().contains("did not call begin")), errors.toString());
    }

    @Test
    void tcpAuthenticatesAndDelivers() throws Exception {
        try (RealAgent agent = RealAgent.startWithTcp(dir)) {
            try (LogfluxClient c = builder(agent.tcpAddressString()).sharedSecret(RealAgent.SECRET).build()) {
                for (int i = 0; i < 500; i++) {
                    c.log(Entry.info("tcp " + i));
                }
                assertTrue(c.flush(Duration.ofSeconds(20)), () -> c.stats().toString());
                assertEquals(500, c.stats().confirmed());
            }
            assertEquals(500, agent.waitStored(500, Duration.ofSeconds(20)).size());
        }
    }

    @Test
    void refusedSecretIsReportedNeverThrown() throws Exception {
        try (RealAgent agent = RealAgent.startWithTcp(dir)) {
            List<LogfluxException> errors = new CopyOnWriteArrayList<>();
            try (LogfluxClient c = builder(agent.tcpAddressString()).sharedSecret("wrong-secret-wrong-secret-wrong-secret")
                    .onError(errors::add).build()) {
                for (int i = 0; i < 10; i++) {
                    assertTrue(c.log(Entry.info("never stored " + i)));
                }
                assertFalse(c.flush(Duration.ofSeconds(20)), "flush must fail at once, not wait for the timeout");
                Stats s = c.stats();
                assertNotNull(s.lastError());
                assertEquals(LogfluxException.Kind.AUTH_FAILED, s.lastError().kind(), s.toString());
                assertEquals("auth_failed", s.lastError().agentCode());
                assertTrue(s.dialFailures() >= 1);
                assertEquals(10, s.queued(), "entries stay queued");
                assertTrue(errors.stream().anyMatch(e -> e.kind() == LogfluxException.Kind.AUTH_FAILED), errors.toString());
                assertFalse(c.close(Duration.ofMillis(500)));
                assertEquals(10, c.stats().dropped(Stats.DROP_UNSENT));
            }
            assertEquals(0, agent.stored().size());
        }
    }

    @Test
    void agentRestartMidStreamLosesNothing() throws Exception {
        RealAgent agent = RealAgent.startUnix(dir);
        try (LogfluxClient c = builder(agent.unixAddress()).build()) {
            int n = 6000;
            AtomicBoolean done = new AtomicBoolean();
            Thread producer = new Thread(() -> {
                for (int i = 0; i < n; i++) {
                    c.log(Entry.info("restart " + i));
                    if (i % 200 == 0) {
                        RealAgent.sleep(5);
                    }
                }
                done.set(true);
            });
            producer.start();
            while (c.stats().confirmed() < 1000) {
                RealAgent.sleep(5);
            }
            agent.kill(); // a crash: no drain
            RealAgent.sleep(300);
            agent.start();
            producer.join();
            assertTrue(done.get());
            assertTrue(c.flush(Duration.ofSeconds(30)), () -> c.stats().toString());
            Stats s = c.stats();
            assertEquals(n, s.logged());
            assertEquals(0, s.droppedTotal(), s.toString());
            assertTrue(s.connections() >= 2, s.toString());
            // At least once: every entry is stored, maybe twice if its confirmation was lost with the connection.
            Set<String> got = new HashSet<>(RealAgent.payloads(agent.waitStored(n, Duration.ofSeconds(20))));
            for (int i = 0; i < n; i++) {
                assertTrue(got.contains("restart " + i), "missing restart " + i + "; " + s);
            }
        } finally {
            agent.stop();
        }
    }

    @Test
    void fullQueueDropsAndCountsWithoutBlockingOrThrowing() throws Exception {
        List<LogfluxException> errors = new CopyOnWriteArrayList<>();
        Path missing = dir.resolve("no-agent.sock");
        try (LogfluxClient c = builder("unix://" + missing).queueBytes(64 << 10).onError(errors::add).build()) {
            int accepted = 0;
            for (int i = 0; i < 10_000; i++) {
                if (c.log(Entry.info("queue full " + i).metadata("k", "v"))) {
                    accepted++;
                }
            }
            Stats s = c.stats();
            assertTrue(accepted > 0 && accepted < 10_000, "accepted " + accepted);
            assertEquals(accepted, s.logged());
            assertEquals(10_000 - accepted, s.dropped(Stats.DROP_QUEUE_FULL));
            assertTrue(s.queuedBytes() <= 64 << 10, s.toString());
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (errors.stream().noneMatch(e -> e.kind() == LogfluxException.Kind.DROPPED) && System.nanoTime() < deadline) {
                RealAgent.sleep(20);
            }
            assertTrue(errors.stream().anyMatch(e -> e.kind() == LogfluxException.Kind.DROPPED), errors.toString());
            assertTrue(errors.stream().anyMatch(e -> e.kind() == LogfluxException.Kind.UNAVAILABLE), errors.toString());
        }
    }

    @Test
    void fallbackFileTakesWhatTheAgentCannotAndReplays() throws Exception {
        Path fb = dir.resolve("fallback.ndjson");
        Path missing = dir.resolve("later.sock");
        int n = 3000;
        try (LogfluxClient c = builder("unix://" + missing).queueBytes(64 << 10).fallback(Fallback.FILE).fallbackPath(fb)
                .fallbackAfter(Duration.ofMillis(200)).build()) {
            for (int i = 0; i < n; i++) {
                c.log(Entry.info("fallback " + i));
                if (i % 100 == 0) {
                    RealAgent.sleep(2);
                }
            }
            c.close(Duration.ofSeconds(1));
            Stats s = c.stats();
            assertEquals(n, s.fallback() + s.droppedTotal(), s.toString());
            assertTrue(s.fallback() > 0, s.toString());
            List<String> lines = RealAgent.lines(fb);
            assertEquals(s.fallback(), lines.size());
            for (String l : lines) {
                Map<String, Object> e = Json.parseObject(l);
                assertTrue(((String) e.get("payload")).startsWith("fallback "));
            }
        }
        // The file replays into an agent as it is.
        Path agentDir = Files.createDirectory(dir.resolve("agent"));
        try (RealAgent agent = RealAgent.startUnix(agentDir)) {
            Process p = new ProcessBuilder(RealAgent.binary().toString(), "send", "--addr", agent.unixAddress(),
                    "--file", fb.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor(), out);
            int lines = RealAgent.lines(fb).size();
            assertEquals(lines, agent.waitStored(lines, Duration.ofSeconds(20)).size());
        }
    }

    @Test
    void tenThousandEntriesThenCloseAllArrive() throws Exception {
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            LogfluxClient c = builder(agent.unixAddress()).build();
            for (int i = 0; i < 10_000; i++) {
                assertTrue(c.log(Entry.info("close " + i)));
            }
            assertTrue(c.close(Duration.ofSeconds(30)), () -> c.stats().toString());
            assertTrue(c.close(Duration.ofSeconds(1)), "close is idempotent");
            assertFalse(c.log(Entry.info("after close")));
            assertEquals(1, c.stats().dropped(Stats.DROP_CLOSED));
            List<Map<String, Object>> stored = agent.waitStored(10_000, Duration.ofSeconds(20));
            List<String> want = new ArrayList<>();
            for (int i = 0; i < 10_000; i++) {
                want.add("close " + i);
            }
            assertEquals(want, RealAgent.payloads(stored));
        }
    }

    @Test
    void callerEncodedEntriesKeepTheirPlaceAmongTheOthers() throws Exception {
        RecordEncoder<String> deferred = (p, e) -> e.begin(Level.INFO, 1_756_636_200L, 0).payload(p);
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            try (LogfluxClient c = builder(agent.unixAddress()).build()) {
                for (int i = 0; i < 300; i++) {
                    switch (i % 3) {
                        case 0 -> assertTrue(c.log(Entry.info("mixed " + i)));
                        case 1 -> assertTrue(c.log(c.encoder(Level.WARNING, 1_756_636_200L, 0).payload("mixed " + i)
                                .metadata("via", "encoder")));
                        default -> assertTrue(c.log("mixed " + i, 16, deferred));
                    }
                }
                EntryEncoder empty = c.encoder(Level.INFO, 1_756_636_200L, 0);
                assertFalse(c.log(empty), "an entry without a payload is refused at once");
                assertTrue(c.flush(Duration.ofSeconds(20)), () -> c.stats().toString());
                assertEquals(1, c.stats().dropped(Stats.DROP_INVALID));
            }
            List<Map<String, Object>> stored = agent.waitStored(300, Duration.ofSeconds(20));
            for (int i = 0; i < 300; i++) {
                assertEquals("mixed " + i, stored.get(i).get("payload"));
            }
            assertEquals(Map.of("via", "encoder"), stored.get(1).get("metadata"));
            assertEquals(5L, stored.get(1).get("logLevel"));
        }
    }

    @Test
    void closeWhileThreadsLogKeepsEveryAcceptedEntryAndCountsTheRest() throws Exception {
        int threads = 4;
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            LogfluxClient c = builder(agent.unixAddress()).build();
            int[] accepted = new int[threads];
            int[] refused = new int[threads];
            java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(threads);
            List<Thread> ts = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int me = t;
                Thread th = new Thread(() -> {
                    started.countDown();
                    // Log until the client refuses as closed (bounded, in case close never comes).
                    for (int i = 0; i < 2_000_000 && refused[me] == 0; i++) {
                        if (c.log(Entry.info("t" + me + " " + accepted[me]))) {
                            accepted[me]++;
                        } else if (c.stats().dropped(Stats.DROP_CLOSED) > 0) {
                            refused[me]++;
                        } else {
                            Thread.onSpinWait(); // queue full: try again
                        }
                    }
                });
                th.start();
                ts.add(th);
            }
            started.await();
            RealAgent.sleep(200);
            assertTrue(c.close(Duration.ofSeconds(30)), () -> c.stats().toString());
            for (Thread th : ts) {
                th.join(30_000);
            }
            int total = 0;
            for (int t = 0; t < threads; t++) {
                assertEquals(1, refused[t], "thread " + t + " stopped at the close");
                total += accepted[t];
            }
            Stats s = c.stats();
            assertEquals(total, s.logged(), s.toString());
            assertEquals(total, s.confirmed(), s.toString());
            // Every accepted entry is stored, each thread's in the order it logged them.
            List<String> got = RealAgent.payloads(agent.waitStored(total, Duration.ofSeconds(30)));
            assertEquals(total, got.size());
            int[] next = new int[threads];
            for (String p : got) {
                int sp = p.indexOf(' ');
                int t = Integer.parseInt(p.substring(1, sp));
                assertEquals(next[t]++, Integer.parseInt(p.substring(sp + 1)), "order of thread " + t);
            }
        }
    }

    @Test
    void environmentNamesTheAgent() throws Exception {
        try (RealAgent agent = RealAgent.startWithTcp(dir)) {
            try (LogfluxClient c = LogfluxClient.builder().shutdownHook(false)
                    .env(Map.of("LOGFLUX_AGENT_ADDR", agent.tcpAddressString(), "LOGFLUX_SHARED_SECRET", RealAgent.SECRET))
                    .build()) {
                c.log(Entry.notice("from the environment"));
                assertTrue(c.flush(Duration.ofSeconds(20)), () -> c.stats().toString());
            }
            assertEquals("from the environment", agent.waitStored(1, Duration.ofSeconds(20)).get(0).get("payload"));
        }
    }
}
