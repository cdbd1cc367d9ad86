package org.logflux.agent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.Arrays;

/**
 * Splits the agent's answers into lines. Works on a non-blocking channel: {@link #readLine} returns null when no
 * complete line is there yet. A trailing {@code \r} is dropped; a line longer than {@link #MAX_LINE_BYTES} fails.
 */
final class LineReader {
    /** Bounds one answer line; an error listing 100 entries is far smaller. */
    static final int MAX_LINE_BYTES = 1 << 20;
    /** The agent's answer to a ping, returned as this very array (no copy). */
    static final byte[] PONG = EntryEncoder.ascii("{\"status\":\"pong\"}");

    private final ByteBuffer in = ByteBuffer.allocate(16 << 10);
    private byte[] partial = new byte[256];
    private int partialLen;
    private boolean eof;

    LineReader() {
        in.flip(); // empty, ready to read from
    }

    /** Whether the channel reached its end (after the last complete line was returned). */
    boolean eof() {
        return eof;
    }

    /**
     * The next complete line without its line end, or null when none is complete yet (then reads what the channel
     * has; on a blocking channel, waits for it) or at the end of the stream.
     */
    byte[] readLine(ReadableByteChannel ch) throws IOException {
        while (true) {
            while (in.hasRemaining()) {
                byte b = in.get();
                if (b == '\n') {
                    int n = partialLen;
                    if (n > 0 && partial[n - 1] == '\r') {
                        n--;
                    }
                    partialLen = 0;
                    if (n == PONG.length && Arrays.equals(partial, 0, n, PONG, 0, n)) {
                        return PONG;
                    }
                    return Arrays.copyOf(partial, n);
                }
                if (partialLen == partial.length) {
                    if (partialLen >= MAX_LINE_BYTES) {
                        throw new IOException("agent answer longer than " + MAX_LINE_BYTES + " bytes");
                    }
                    partial = Arrays.copyOf(partial, partialLen * 2);
                }
                partial[partialLen++] = b;
            }
            if (eof) {
                return null;
            }
            in.clear();
            int n = ch.read(in);
            in.flip();
            if (n < 0) {
                eof = true;
                return null;
            }
            if (n == 0) {
                return null;
            }
        }
    }
}
