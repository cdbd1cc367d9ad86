package org.logflux.agent;

/** An entry's severity, as the Agent API numbers it: syslog severity plus one (1 most severe, 8 least). */
public enum Level {
    EMERGENCY(1), ALERT(2), CRITICAL(3), ERROR(4), WARNING(5), NOTICE(6), INFO(7), DEBUG(8);

    private final int code;

    Level(int code) {
        this.code = code;
    }

    /** The Agent API's {@code logLevel} number, 1 to 8. */
    public int code() {
        return code;
    }

    private static final Level[] BY_CODE = {null, EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG};

    /** The level with this {@code logLevel} number. */
    public static Level ofCode(int code) {
        if (code < 1 || code > 8) {
            throw new IllegalArgumentException("log level " + code + " is not 1 to 8");
        }
        return BY_CODE[code];
    }
}
