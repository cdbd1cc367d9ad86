package org.logflux.agent;

import java.util.concurrent.ThreadLocalRandom;

/**
 * Capped exponential delays with full jitter: the n-th delay is drawn uniformly from [min, min(max, min·2^n)].
 * Used by the sender thread only.
 */
final class Backoff {
    private final long minNanos;
    private final long maxNanos;
    private int doublings;

    Backoff(long minNanos, long maxNanos) {
        this.minNanos = minNanos;
        this.maxNanos = Math.max(minNanos, maxNanos);
    }

    long nextNanos() {
        long ceil = doublings >= 62 ? maxNanos : minNanos << doublings;
        if (ceil <= 0 || ceil >= maxNanos) {
            ceil = maxNanos;
        } else {
            doublings++;
        }
        if (ceil <= minNanos) {
            return minNanos;
        }
        return minNanos + ThreadLocalRandom.current().nextLong(ceil - minNanos + 1);
    }

    void reset() {
        doublings = 0;
    }
}
