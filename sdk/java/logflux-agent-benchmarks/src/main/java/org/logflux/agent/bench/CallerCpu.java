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
 * alternating rounds in one JVM (16 rounds of 100,000 calls after 4 of warm-up; -Drounds, -Dcalls), with the medians
 * and the median of the per-round ratios. Unlike JMH's wall time, a busy machine does not inflate it much.
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
            int n = Integer.getInteger("calls", 100_000);
            int rounds = Integer.getInteger("rounds", 16);
            Logger[] loggers = {lf, async};
            long[][] cpu = new long[2][rounds];
            long[][] alloc = new long[2][rounds];
            for (int round = -4; round < rounds; round++) { // four rounds of warm-up
                for (int k = 0; k < 2; k++) {
                    Logger l = loggers[(k + Math.max(round, 0)) % 2 == 0 ? 0 : 1]; // alternate which goes first
                    int which = l == lf ? 0 : 1;
                    long b0 = mx.getThreadAllocatedBytes(id);
                    long c0 = mx.getCurrentThreadCpuTime();
                    for (int i = 0; i < n; i++) {
                        l.info("hello {}", i);
                    }
                    long c1 = mx.getCurrentThreadCpuTime();
                    long b1 = mx.getThreadAllocatedBytes(id);
                    if (round >= 0) {
                        cpu[which][round] = (c1 - c0) / n;
                        alloc[which][round] = (b1 - b0) / n;
                        System.out.printf("%-10s %6d cpu-ns/op %5d B/op%n", l.getName(), cpu[which][round], alloc[which][round]);
                    }
                    Thread.sleep(300); // let the sender drain: measure the queueing path, not drops
                }
            }
            for (int k = 0; k < 2; k++) {
                System.out.printf("median %-10s %6d cpu-ns/op %5d B/op%n", loggers[k].getName(), median(cpu[k]), median(alloc[k]));
            }
            System.out.printf("median ratio logflux/async-nop (per round): %.2f%n", medianRatio(cpu[0], cpu[1]));
            LogfluxAppender app = (LogfluxAppender) lf.getAppender("lf");
            System.out.println("LogFlux client: " + app.getClient().stats());
            lf.getLoggerContext().stop();
            async.getLoggerContext().stop();
        } finally {
            agent.stop();
        }
    }

    static long median(long[] v) {
        long[] c = v.clone();
        java.util.Arrays.sort(c);
        return c[c.length / 2];
    }

    static double medianRatio(long[] a, long[] b) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = a[i] / (double) Math.max(1, b[i]);
        }
        java.util.Arrays.sort(r);
        return r[r.length / 2];
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
