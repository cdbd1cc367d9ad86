package org.logflux.agent;

/** What kind of record an entry carries (the Agent API's {@code entryType}). */
public enum EntryType {
    LOG(1), METRIC(2), TRACE(3), EVENT(4), AUDIT(5);

    private final int code;

    EntryType(int code) {
        this.code = code;
    }

    /** The Agent API's {@code entryType} number, 1 to 5. */
    public int code() {
        return code;
    }
}
