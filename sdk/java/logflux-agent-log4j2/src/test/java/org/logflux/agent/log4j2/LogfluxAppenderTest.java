package org.logflux.agent.log4j2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.logging.log4j.MarkerManager;
import org.apache.logging.log4j.ThreadContext;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.config.Configurator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.logflux.agent.testing.RealAgent;

@Timeout(120)
class LogfluxAppenderTest {
    @TempDir
    Path dir;

    static LoggerContext configure(String addr, String resource) throws Exception {
        System.setProperty("logflux.addr", addr);
        LoggerContext ctx = Configurator.initialize("logflux-test", LogfluxAppenderTest.class.getClassLoader(),
                LogfluxAppenderTest.class.getResource(resource).toURI());
        LogfluxAppender app = ctx.getConfiguration().getAppender("LOGFLUX");
        assertNotNull(app, "the Logflux plugin was not created from " + resource);
        assertTrue(app.isStarted());
        return ctx;
    }

    @AfterEach
    void clear() {
        ThreadContext.clearAll();
        LogManager.shutdown();
    }

    @Test
    void xmlConfigMapsEventsAndLogManagerShutdownDrains() throws Exception {
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            LoggerContext ctx = configure(agent.unixAddress(), "/logflux-log4j2.xml");
            Logger log = ctx.getLogger("billing.Charges");
            ThreadContext.put("requestId", "r-1");
            log.trace("trace {}", 1);
            log.debug("debug");
            log.info(MarkerManager.getMarker("AUDIT"), "charged {} for order {}", "9.99", 42);
            log.warn("warned");
            log.error("failed", new IllegalStateException("card declined"));
            log.fatal("fatal");
            ThreadContext.clearAll();
            LogManager.shutdown(ctx); // drains: no explicit flush
            List<Map<String, Object>> s = agent.waitStored(6, Duration.ofSeconds(20));
            assertEquals(6, s.size());
            long[] levels = {8, 8, 7, 5, 4, 3};
            for (int i = 0; i < 6; i++) {
                assertEquals(levels[i], s.get(i).get("logLevel"), "entry " + i);
                assertEquals("billing", s.get(i).get("source"));
                Map<?, ?> md = (Map<?, ?>) s.get(i).get("metadata");
                assertEquals("billing.Charges", md.get("logger"));
                assertEquals(Thread.currentThread().getName(), md.get("thread"));
                assertEquals("r-1", md.get("requestId"), "ThreadContext, entry " + i);
            }
            assertEquals("charged 9.99 for order 42", s.get(2).get("payload"));
            assertEquals("AUDIT", ((Map<?, ?>) s.get(2).get("metadata")).get("marker"));
            Map<?, ?> err = (Map<?, ?>) s.get(4).get("metadata");
            assertEquals("java.lang.IllegalStateException: card declined", err.get("exception"));
            assertTrue(((String) err.get("stack_trace")).contains("LogfluxAppenderTest"));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"properties", "json", "yaml"})
    void otherConfigurationFormats(String format) throws Exception {
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            LoggerContext ctx = configure(agent.unixAddress(), "/logflux-log4j2." + format);
            ctx.getLogger("fmt").info("configured from {}", format);
            LogManager.shutdown(ctx);
            List<Map<String, Object>> s = agent.waitStored(1, Duration.ofSeconds(20));
            assertEquals(1, s.size());
            assertEquals("configured from " + format, s.get(0).get("payload"));
            assertEquals("from-" + format, s.get(0).get("source"));
        }
    }

    @Test
    void tenThousandEventsThenShutdownAllArrive() throws Exception {
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            LoggerContext ctx = configure(agent.unixAddress(), "/logflux-log4j2.xml");
            Logger log = ctx.getLogger("bulk");
            for (int i = 0; i < 10_000; i++) {
                log.info("event {}", i);
            }
            LogManager.shutdown(ctx);
            List<String> want = new ArrayList<>();
            for (int i = 0; i < 10_000; i++) {
                want.add("event " + i);
            }
            assertEquals(want, RealAgent.payloads(agent.waitStored(10_000, Duration.ofSeconds(30))));
        }
    }
}
