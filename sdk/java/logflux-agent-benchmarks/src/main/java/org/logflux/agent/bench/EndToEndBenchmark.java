package org.logflux.agent.bench;

import java.nio.file.Files;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.logflux.agent.Entry;
import org.logflux.agent.LogfluxClient;
import org.logflux.agent.testing.RealAgent;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Entries per second into the real agent over its Unix socket, counted up to the agent's flush answer (so every
 * entry is durable in its disk queue): each invocation logs 100,000 entries of about 200 bytes, then flushes.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 5, time = 3)
@Fork(1)
@State(Scope.Benchmark)
public class EndToEndBenchmark {
    static final int N = 100_000;

    private RealAgent agent;
    private LogfluxClient client;
    private final String payload = "GET /api/v1/orders/12345 200 " + "x".repeat(60);

    @Setup(Level.Trial)
    public void setup() throws Exception {
        agent = RealAgent.startUnix(Files.createTempDirectory("logflux-e2e"));
        client = LogfluxClient.builder().address(agent.unixAddress()).source("bench").shutdownHook(false)
                .queueBytes(64L << 20).build();
    }

    private long cpu0, agentCpu0, logged0, dropped0;

    /** CPU time per entry of this JVM (the benchmark thread, the sender, JIT and GC) and of the agent process. */
    @Setup(Level.Iteration)
    public void startIteration() {
        cpu0 = processCpuNanos();
        agentCpu0 = agent.cpuNanos();
        logged0 = client.stats().logged();
        dropped0 = client.stats().droppedTotal();
    }

    @TearDown(Level.Iteration)
    public void endIteration() {
        long n = client.stats().logged() - logged0;
        long retried = client.stats().droppedTotal() - dropped0;
        System.out.printf("%n  %d entries: JVM %.0f cpu-ns/entry, agent %.0f cpu-ns/entry, %d log calls refused (queue full) and retried%n",
                n, (processCpuNanos() - cpu0) / (double) n, (agent.cpuNanos() - agentCpu0) / (double) n, retried);
    }

    static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    @Benchmark
    @OperationsPerInvocation(N)
    public void logThenFlush() {
        for (int i = 0; i < N; i++) {
            Entry e = Entry.info(payload).metadata("service", "orders").metadata("region", "eu-west-1");
            while (!client.log(e)) {
                // Queue full: give the sender (and the agent) the CPU rather than spin; counted as dropped in stats.
                java.util.concurrent.locks.LockSupport.parkNanos(20_000);
            }
        }
        if (!client.flush(Duration.ofSeconds(60))) {
            throw new IllegalStateException("flush not confirmed: " + client.stats());
        }
    }

    @TearDown(Level.Trial)
    public void teardown() {
        System.out.println("\nLogFlux client after the run: " + client.stats());
        client.close();
        agent.stop();
    }
}
