package org.logflux.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.logflux.agent.testing.PinningRecorder;
import org.logflux.agent.testing.RealAgent;

/** 10,000 virtual threads logging at once through the client: no pinning, and every entry arrives. */
@Timeout(180)
class VirtualThreadTest {
    @TempDir
    Path dir;

    @Test
    void tenThousandVirtualThreadsLogWithoutPinning() throws Exception {
        Assumptions.assumeTrue(PinningRecorder.virtualThreadsAvailable(),
                "NOT RUN: virtual threads need Java 21+, this JVM is " + Runtime.version()
                        + " (sdk/java/ci-test.sh runs the tests on the Temurin 25 JDK when it is installed)");
        try (RealAgent agent = RealAgent.startUnix(dir); PinningRecorder pins = new PinningRecorder()) {
            int control = pins.controlSynchronizedPins();
            System.out.println("VirtualThreadTest: control (synchronized + sleep on 8 virtual threads) recorded "
                    + control + " pinning events on Java " + Runtime.version());
            int n = 10_000;
            try (LogfluxClient c = ClientAgentTest.builder(agent.unixAddress()).build()) {
                PinningRecorder.runOnVirtualThreads(n, i -> c.log(Entry.info("vt " + i).metadata("thread", "virtual")));
                List<String> pinned = pins.drain();
                assertTrue(pinned.isEmpty(), pinned.size() + " pinning events while logging:\n" + String.join("\n", pinned));
                assertTrue(c.flush(Duration.ofSeconds(30)), () -> c.stats().toString());
                assertEquals(n, c.stats().logged());
            }
            Set<String> got = new HashSet<>(RealAgent.payloads(agent.waitStored(n, Duration.ofSeconds(30))));
            assertEquals(n, got.size());
            assertTrue(control > 0 || Runtime.version().feature() >= 26,
                    "this JVM should report pinning in synchronized (LockingMode=1); the detector would see nothing");
        }
    }
}
