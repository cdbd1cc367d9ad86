package org.logflux.agent.bench;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.logflux.agent.logback.LogfluxAppender;
import org.logflux.agent.testing.RealAgent;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost on the calling thread of {@code logger.info("hello {}", x)} through the LogFlux Logback appender (into a
 * real agent on a Unix socket), next to Logback's AsyncAppender over an appender that does nothing.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Benchmark)
public class LogbackEnqueueBenchmark {
    @Param({"logflux", "async-nop"})
    public String appender;

    private RealAgent agent;
    private Path dir;
    private LoggerContext ctx;
    private Logger logger;
    private LogfluxAppender logflux;
    private long x;

    /** An appender that drops every event: the floor under AsyncAppender. */
    static final class NopAppender extends AppenderBase<ILoggingEvent> {
        @Override
        protected void append(ILoggingEvent e) {
        }
    }

    @Setup(Level.Trial)
    public void setup() throws Exception {
        if (appender.equals("logflux")) {
            dir = Files.createTempDirectory("logflux-bench");
            agent = RealAgent.startUnix(dir);
            logger = CallerCpu.logger("bench", agent.unixAddress());
            logflux = (LogfluxAppender) logger.getAppender("lf");
        } else {
            logger = CallerCpu.logger("bench", null);
        }
        ctx = logger.getLoggerContext();
    }

    @Benchmark
    public void info() {
        logger.info("hello {}", x++);
    }

    @TearDown(Level.Trial)
    public void teardown() throws Exception {
        if (logflux != null) {
            System.out.println("\nLogFlux client after the run: " + logflux.getClient().stats());
        }
        ctx.stop();
        if (agent != null) {
            agent.stop();
        }
    }
}
