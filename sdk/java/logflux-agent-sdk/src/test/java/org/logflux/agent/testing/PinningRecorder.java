package org.logflux.agent.testing;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingStream;

/**
 * Records JFR {@code jdk.VirtualThreadPinned} events (threshold 0: every time a virtual thread parks while pinned to
 * its carrier) and runs tasks on 10,000 virtual threads at once. Java 21+; compiled for 17, so virtual threads are
 * reached through {@link Executors#newVirtualThreadPerTaskExecutor()} by reflection.
 */
public final class PinningRecorder implements AutoCloseable {
    private final RecordingStream rs = new RecordingStream();
    private final List<String> events = new CopyOnWriteArrayList<>();

    public PinningRecorder() {
        rs.enable("jdk.VirtualThreadPinned").withThreshold(Duration.ZERO).withStackTrace();
        rs.onEvent("jdk.VirtualThreadPinned", e -> events.add(describe(e)));
        rs.startAsync();
    }

    public static boolean virtualThreadsAvailable() {
        return Runtime.version().feature() >= 21;
    }

    private static String describe(RecordedEvent e) {
        StringBuilder sb = new StringBuilder("pinned for " + e.getDuration().toNanos() + " ns at");
        if (e.getStackTrace() != null) {
            for (RecordedFrame f : e.getStackTrace().getFrames()) {
                sb.append("\n    ").append(f.getMethod().getType().getName()).append('.').append(f.getMethod().getName())
                        .append(':').append(f.getLineNumber());
            }
        }
        return sb.toString();
    }

    /** Waits for JFR to deliver what it recorded (it flushes about once a second), then returns and clears it. */
    public List<String> drain() {
        RealAgent.sleep(2500);
        List<String> out = new ArrayList<>(events);
        events.clear();
        return out;
    }

    /** Runs task(i) for i in [0, n) on n virtual threads released at the same moment; waits for all. */
    public static void runOnVirtualThreads(int n, java.util.function.IntConsumer task) throws Exception {
        ExecutorService ex = (ExecutorService) Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null);
        CountDownLatch gate = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(n);
        try {
            for (int i = 0; i < n; i++) {
                int k = i;
                ex.execute(() -> {
                    try {
                        gate.await();
                        task.accept(k);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    } finally {
                        done.countDown();
                    }
                });
            }
            gate.countDown();
            if (!done.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("virtual threads did not finish in 60 s");
            }
        } finally {
            ex.shutdown();
        }
    }

    /**
     * Checks that this JVM reports pinning at all: virtual threads sleeping inside {@code synchronized} pin on Java 21
     * (and on 24-25 with -XX:LockingMode=1, which the test JVM gets). Returns the number of events seen.
     */
    public int controlSynchronizedPins() throws Exception {
        Object lock = new Object();
        runOnVirtualThreads(8, i -> {
            synchronized (lock) {
                RealAgent.sleep(5);
            }
        });
        return drain().size();
    }

    @Override
    public void close() {
        rs.close();
    }
}
