package org.logflux.agent.jul;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.logflux.agent.testing.RealAgent;

@Timeout(120)
class LogfluxHandlerTest {
    @TempDir
    Path dir;

    static void configure(String properties) throws Exception {
        LogManager.getLogManager().readConfiguration(new ByteArrayInputStream(properties.getBytes(StandardCharsets.UTF_8)));
    }

    @AfterEach
    void reset() {
        LogManager.getLogManager().reset();
    }

    @Test
    void loggingPropertiesConfigureTheHandlerAndResetDrains() throws Exception {
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            configure("handlers = org.logflux.agent.jul.LogfluxHandler\n"
                    + ".level = ALL\n"
                    + "org.logflux.agent.jul.LogfluxHandler.level = FINE\n"
                    + "org.logflux.agent.jul.LogfluxHandler.source = billing\n"
                    + "org.logflux.agent.jul.LogfluxHandler.address = " + agent.unixAddress() + "\n"
                    + "org.logflux.agent.jul.LogfluxHandler.shutdownHook = false\n"
                    + "org.logflux.agent.jul.LogfluxHandler.shutdownTimeoutMillis = 20000\n"
                    + "org.logflux.agent.jul.LogfluxHandler.includeSource = true\n");
            Logger log = Logger.getLogger("billing.Charges");
            log.finest("below the handler's level");
            log.fine("fine");
            log.config("config");
            log.log(Level.INFO, "charged {0} for order {1}", new Object[] {"9.99", "42"});
            log.warning("warned");
            log.log(Level.SEVERE, "failed", new IllegalStateException("card declined"));
            LogManager.getLogManager().reset(); // closes the handler: drains
            List<Map<String, Object>> s = agent.waitStored(5, Duration.ofSeconds(20));
            assertEquals(5, s.size(), agent.log());
            long[] levels = {8, 8, 7, 5, 4};
            for (int i = 0; i < 5; i++) {
                assertEquals(levels[i], s.get(i).get("logLevel"), "entry " + i);
                assertEquals("billing", s.get(i).get("source"));
                Map<?, ?> md = (Map<?, ?>) s.get(i).get("metadata");
                assertEquals("billing.Charges", md.get("logger"));
                assertEquals(Thread.currentThread().getName(), md.get("thread"));
                assertEquals(LogfluxHandlerTest.class.getName(), md.get("source_class"));
            }
            assertEquals("charged 9.99 for order 42", s.get(2).get("payload"));
            Map<?, ?> err = (Map<?, ?>) s.get(4).get("metadata");
            assertEquals("java.lang.IllegalStateException: card declined", err.get("exception"));
            assertTrue(((String) err.get("stack_trace")).contains("LogfluxHandlerTest"));
        }
    }

    @Test
    void tenThousandRecordsThenResetAllArrive() throws Exception {
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            configure("handlers = org.logflux.agent.jul.LogfluxHandler\n"
                    + "org.logflux.agent.jul.LogfluxHandler.address = " + agent.unixAddress() + "\n"
                    + "org.logflux.agent.jul.LogfluxHandler.shutdownHook = false\n"
                    + "org.logflux.agent.jul.LogfluxHandler.shutdownTimeoutMillis = 20000\n");
            Logger log = Logger.getLogger("bulk");
            for (int i = 0; i < 10_000; i++) {
                log.info("record " + i);
            }
            LogManager.getLogManager().reset();
            List<String> got = RealAgent.payloads(agent.waitStored(10_000, Duration.ofSeconds(30)));
            assertEquals(10_000, got.size());
            assertEquals("record 0", got.get(0));
            assertEquals("record 9999", got.get(9999));
        }
    }
}
