package org.logflux.agent;

/**
 * A problem the SDK ran into while delivering entries. The SDK never throws it from {@code log}: it is handed to the
 * error callback ({@link LogfluxClient.Builder#onError}) and kept as {@link Stats#lastError()}. {@link #kind()}
 * classifies it; for answers of the agent, {@link #agentCode()} is the Agent API's error code.
 */
public class LogfluxException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** What went wrong, in classes a program can act on. */
    public enum Kind {
        /** The agent could not be reached (retried with backoff). */
        UNAVAILABLE,
        /** The agent refused the shared secret: a configuration problem (retried with backoff). */
        AUTH_FAILED,
        /** The agent refused entries (see {@link #agentCode()}); they are not retried. */
        REJECTED,
        /** The agent's answers did not match what was sent; the connection was dropped and resent. */
        PROTOCOL,
        /** Entries were dropped by the SDK (queue full, closed, invalid, fallback full, unsent at close). */
        DROPPED,
        /** Writing the fallback file failed. */
        FALLBACK
    }

    private final Kind kind;
    private final String agentCode;

    public LogfluxException(Kind kind, String message) {
        this(kind, null, message, null);
    }

    public LogfluxException(Kind kind, String agentCode, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.agentCode = agentCode;
    }

    public Kind kind() {
        return kind;
    }

    /** The agent's error code, such as {@code auth_failed} or {@code invalid_entry}, or null. */
    public String agentCode() {
        return agentCode;
    }
}
