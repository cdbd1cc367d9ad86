package org.logflux.agent;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/** The client's counters, shared by application threads (drops) and the sender thread (everything else). */
final class Counters {
    static final int QUEUE_FULL = 0, CLOSED = 1, INVALID = 2, FALLBACK_FULL = 3, FALLBACK_ERROR = 4, UNSENT = 5;
    private static final String[] DROP_NAMES = {
        Stats.DROP_QUEUE_FULL, Stats.DROP_CLOSED, Stats.DROP_INVALID, Stats.DROP_FALLBACK_FULL,
        Stats.DROP_FALLBACK_ERROR, Stats.DROP_UNSENT,
    };

    final AtomicLong sent = new AtomicLong();
    final AtomicLong confirmed = new AtomicLong();
    final AtomicLong fallback = new AtomicLong();
    final AtomicLong dialFailures = new AtomicLong();
    final AtomicLong connections = new AtomicLong();
    private final AtomicLong[] dropped = new AtomicLong[DROP_NAMES.length];
    private final ConcurrentHashMap<String, AtomicLong> rejected = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, AtomicLong> retries = new ConcurrentHashMap<>();

    Counters() {
        for (int i = 0; i < dropped.length; i++) {
            dropped[i] = new AtomicLong();
        }
    }

    void drop(int reason, long n) {
        dropped[reason].addAndGet(n);
    }

    long droppedTotal() {
        long n = 0;
        for (AtomicLong a : dropped) {
            n += a.get();
        }
        return n;
    }

    Map<String, Long> droppedMap() {
        Map<String, Long> m = new HashMap<>();
        for (int i = 0; i < dropped.length; i++) {
            long v = dropped[i].get();
            if (v > 0) {
                m.put(DROP_NAMES[i], v);
            }
        }
        return m;
    }

    void reject(String code, long n) {
        rejected.computeIfAbsent(code, k -> new AtomicLong()).addAndGet(n);
    }

    void retry(String reason, long batches) {
        retries.computeIfAbsent(reason, k -> new AtomicLong()).addAndGet(batches);
    }

    static Map<String, Long> snapshot(ConcurrentHashMap<String, AtomicLong> m) {
        Map<String, Long> out = new HashMap<>();
        m.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    Map<String, Long> rejectedMap() {
        return snapshot(rejected);
    }

    Map<String, Long> retriesMap() {
        return snapshot(retries);
    }
}
