package org.logflux.agent.logback;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.core.status.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.logflux.agent.testing.RealAgent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;
import org.slf4j.MarkerFactory;

@Timeout(120)
class LogfluxAppenderTest {
    @TempDir
    Path dir;

    /** Configures SLF4J's Logback context from logflux-logback.xml for the agent's address. */
    static LoggerContext configure(String addr) throws Exception {
        LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();
        ctx.reset();
        ctx.putProperty("logflux.addr", addr);
        JoranConfigurator jc = new JoranConfigurator();
        jc.setContext(ctx);
        jc.doConfigure(LogfluxAppenderTest.class.getResource("/logflux-logback.xml"));
        LogfluxAppender app = (LogfluxAppender) ctx.getLogger(Logger.ROOT_LOGGER_NAME).getAppender("LOGFLUX");
        assertTrue(app != null && app.isStarted(), () -> statuses(ctx));
        return ctx;
    }

    static String statuses(LoggerContext ctx) {
        StringBuilder sb = new StringBuilder();
        for (Status s : ctx.getStatusManager().getCopyOfStatusList()) {
            sb.append(s).append('\n');
        }
        return sb.toString();
    }

    @AfterEach
    void reset() {
        ((LoggerContext) LoggerFactory.getILoggerFactory()).reset();
        MDC.clear();
    }

    @Test
    void mapsEventsToEntriesAndDrainsOnContextStop() throws Exception {
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            LoggerContext ctx = configure(agent.unixAddress());
            Logger log = LoggerFactory.getLogger("billing.Charges");
            MDC.put("requestId", "r-1");
            log.trace("trace {}", 1);
            log.debug("debug");
            log.info(MarkerFactory.getMarker("AUDIT"), "charged {} for order {}", "9.99", 42);
            log.atWarn().addKeyValue("orderId", 42).addKeyValue("requestId", "from-kv").log("warned");
            log.error("failed", new IllegalStateException("card declined"));
            MDC.clear();
            ctx.stop(); // drains: no explicit flush
            List<Map<String, Object>> s = agent.waitStored(5, Duration.ofSeconds(20));
            assertEquals(5, s.size(), () -> statuses(ctx));
            long[] levels = {8, 8, 7, 5, 4};
            for (int i = 0; i < 5; i++) {
                assertEquals(levels[i], s.get(i).get("logLevel"), "entry " + i);
                assertEquals("billing", s.get(i).get("source"));
                Map<?, ?> md = (Map<?, ?>) s.get(i).get("metadata");
                assertEquals("billing.Charges", md.get("logger"));
                assertEquals(Thread.currentThread().getName(), md.get("thread"));
                // MDC; in entry 3 the key-value pair of the same name comes first and wins.
                assertEquals(i == 3 ? "from-kv" : "r-1", md.get("requestId"), "entry " + i);
            }
            assertEquals("trace 1", s.get(0).get("payload"));
            assertEquals("charged 9.99 for order 42", s.get(2).get("payload"));
            assertEquals("AUDIT", ((Map<?, ?>) s.get(2).get("metadata")).get("marker"));
            Map<?, ?> kv = (Map<?, ?>) s.get(3).get("metadata");
            assertEquals("42", kv.get("orderId"));
            Map<?, ?> err = (Map<?, ?>) s.get(4).get("metadata");
            assertEquals("java.lang.IllegalStateException: card declined", err.get("exception"));
            String trace = (String) err.get("stack_trace");
            assertTrue(trace.startsWith("java.lang.IllegalStateException: card declined"), trace);
            assertTrue(trace.contains("LogfluxAppenderTest"), trace);
        }
    }

    @Test
    void tenThousandEventsThenContextStopAllArrive() throws Exception {
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            LoggerContext ctx = configure(agent.unixAddress());
            Logger log = LoggerFactory.getLogger("bulk");
            for (int i = 0; i < 10_000; i++) {
                log.info("event {}", i);
            }
            ctx.stop();
            List<String> want = new ArrayList<>();
            for (int i = 0; i < 10_000; i++) {
                want.add("event " + i);
            }
            assertEquals(want, RealAgent.payloads(agent.waitStored(10_000, Duration.ofSeconds(30))), () -> statuses(ctx));
        }
    }

    @Test
    void aMissingAgentBecomesStatusWarningsNotExceptions() throws Exception {
        LoggerContext ctx = configure("unix://" + dir.resolve("none.sock"));
        Logger log = LoggerFactory.getLogger("x");
        for (int i = 0; i < 100; i++) {
            log.info("nobody listens {}", i);
        }
        LogfluxAppender app = (LogfluxAppender) ctx.getLogger(Logger.ROOT_LOGGER_NAME).getAppender("LOGFLUX");
        assertTrue(!app.getClient().flush(Duration.ofSeconds(5)));
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!statuses(ctx).contains("cannot connect to the agent") && System.nanoTime() < deadline) {
            RealAgent.sleep(20);
        }
        assertTrue(statuses(ctx).contains("cannot connect to the agent"), statuses(ctx));
    }
}
