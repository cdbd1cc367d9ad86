package org.logflux.agent;

/** Where entries go when the agent stays unreachable. */
public enum Fallback {
    /** Keep entries queued in memory until the agent is back; once the queue is full, new entries are dropped. */
    NONE,
    /**
     * Append entries to the fallback file, one entry per line in the Agent API's format, so that
     * {@code logflux-agent send --file FILE} can replay them. The file is capped in bytes and synced after each write.
     */
    FILE,
    /** Write the same lines to standard error. */
    STDERR
}
