package org.logflux.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.logflux.agent.testing.RealAgent;

/** A program that logs and exits without closing the client: the JVM shutdown hook drains the queue. */
@Timeout(120)
class ShutdownHookTest {
    @TempDir
    Path dir;

    /** The child program: logs n entries, then leaves main (or calls System.exit) without close. */
    public static void main(String[] args) {
        LogfluxClient c = LogfluxClient.builder().address(args[0]).source("hook").build(); // hook on by default
        int n = Integer.parseInt(args[1]);
        for (int i = 0; i < n; i++) {
            c.log(Entry.info("hook " + i));
        }
        if (args[2].equals("exit")) {
            System.exit(3);
        }
    }

    @Test
    void exitWithoutCloseStillDeliversEverything() throws Exception {
        try (RealAgent agent = RealAgent.startUnix(dir)) {
            int n = 5000;
            for (String how : new String[] {"return", "exit"}) {
                Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-cp", System.getProperty("java.class.path"), ShutdownHookTest.class.getName(),
                        agent.unixAddress(), Integer.toString(n), how).redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes());
                p.waitFor(60, TimeUnit.SECONDS);
                assertEquals(how.equals("exit") ? 3 : 0, p.exitValue(), out);
            }
            Set<String> got = new HashSet<>(RealAgent.payloads(agent.waitStored(2 * n, Duration.ofSeconds(30))));
            assertEquals(n, got.size(), "every entry of both runs arrives");
            assertEquals(2 * n, agent.stored().size());
        }
    }
}
