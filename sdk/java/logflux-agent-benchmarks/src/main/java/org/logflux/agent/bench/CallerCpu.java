package org.logflux.agent.bench;

import ch.qos.logback.classic.AsyncAppender;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.core.Appender;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import org.logflux.agent.logback.LogfluxAppender;
import org.logflux.agent.testing.RealAgent;

/**
 * The calling thread's own CPU time and allocation per {@code logger.info("hello {}", x)}, measured with the JVM's
 * per-thread counters, for the LogFlux appender (into a real agent) and for AsyncAppender over a no-op appender,
 * alternating rounds in one JVM. Unlike JMH's wall time, a busy machine does not inflate it much.
 * Run: java -cp benchmarks.jar org.logflux.agent.bench.CallerCpu
 */
public final class CallerCpu {
    public static void main(String[] args) throws Exception {
        RealAgent agent = RealAgent.startUnix(Files.createTempDirectory("logflux-cpu"));
        try {
            Logger lf = logger("logflux", agent.unixAddress());
            Logger async = logger("async-nop", null);
            com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long id = Thread.currentThread().getId();
            int n = 50_000;
            for (int round = 0; round < 12; round++) {
                for (Logger l : new Logger[] {lf, async}) {
                    long b0 = mx.getThreadAllocatedBytes(id);
                    long c0 = mx.getCurrentThreadCpuTime();
                    for (int i = 0; i < n; i++) {
                        l.info("hello {}", i);
                    }
                    long c1 = mx.getCurrentThreadCpuTime();
                    long b1 = mx.getThreadAllocatedBytes(id);
                    if (round >= 4) { // after warm-up
                        System.out.printf("%-10s %6d cpu-ns/op %5d B/op%n", l.getName(), (c1 - c0) / n, (b1 - b0) / n);
                    }
                    Thread.sleep(300); // let the sender drain: measure the queueing path, not drops
                }
            }
            LogfluxAppender app = (LogfluxAppender) lf.getAppender("lf");
            System.out.println("LogFlux client: " + app.getClient().stats());
            lf.getLoggerContext().stop();
            async.getLoggerContext().stop();
        } finally {
            agent.stop();
        }
    }

    /** A logger of its own LoggerContext with the LogFlux appender ("lf") for addr, or AsyncAppender over a no-op appender when addr is null. */
    static Logger logger(String name, String addr) {
        LoggerContext ctx = new LoggerContext();
        ctx.setMDCAdapter(new ch.qos.logback.classic.util.LogbackMDCAdapter());
        ctx.start();
        Logger l = ctx.getLogger(name);
        l.setAdditive(false);
        Appender<ch.qos.logback.classic.spi.ILoggingEvent> a;
        if (addr != null) {
            LogfluxAppender lf = new LogfluxAppender();
            lf.setName("lf");
            lf.setContext(ctx);
            lf.setAddress(addr);
            lf.setShutdownHook(false);
            lf.setQueueBytes(64L << 20);
            lf.start();
            a = lf;
        } else {
            LogbackEnqueueBenchmark.NopAppender nop = new LogbackEnqueueBenchmark.NopAppender();
            nop.setContext(ctx);
            nop.start();
            AsyncAppender as = new AsyncAppender();
            as.setContext(ctx);
            as.addAppender(nop);
            as.setDiscardingThreshold(0); // format every event, as the LogFlux appender does
            as.start();
            a = as;
        }
        l.addAppender(a);
        return l;
    }
}
