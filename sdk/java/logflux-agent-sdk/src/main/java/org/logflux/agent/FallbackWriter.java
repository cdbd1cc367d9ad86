package org.logflux.agent;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Receives the entries the agent could not take. Each entry is one line, the Agent API's single-entry message (an
 * entry object without a version, which means "1.0"), so the file can be replayed as it is:
 *
 * <pre>logflux-agent send --file /tmp/logflux-fallback.ndjson</pre>
 *
 * A line is written whole or not at all, and the file never grows past its cap: entries that do not fit are dropped
 * and counted. After each write the file is synced. If the file is removed or replaced (say, after a replay), the
 * next write opens it again. Used by the sender thread, and by {@code close} after the sender has stopped.
 */
final class FallbackWriter {
    private final Fallback mode;
    private final Path path;
    private final long maxBytes;
    private final OutputStream stderr;

    private FileChannel ch;
    private Object fileKey;
    private long size;
    private byte[] buf = new byte[8192];

    FallbackWriter(Fallback mode, Path path, long maxBytes, OutputStream stderr) {
        this.mode = mode;
        this.path = path;
        this.maxBytes = maxBytes;
        this.stderr = stderr;
    }

    /** The outcome of writing one chunk: entries written, and the drop reason for the rest. */
    static final class Result {
        int written;
        int dropReason;
        LogfluxException error;
    }

    Result write(Chunk c) {
        Result r = new Result();
        if (mode == Fallback.STDERR) {
            int n = lines(c, -1);
            try {
                stderr.write(buf, 0, n);
                stderr.flush();
                r.written = c.count;
            } catch (IOException e) {
                r.dropReason = Counters.FALLBACK_ERROR;
                r.error = new LogfluxException(LogfluxException.Kind.FALLBACK, null, "fallback to stderr: " + e, e);
            }
            return r;
        }
        try {
            open();
        } catch (IOException e) {
            r.dropReason = Counters.FALLBACK_ERROR;
            r.error = new LogfluxException(LogfluxException.Kind.FALLBACK, null, "fallback file " + path + ": " + e, e);
            return r;
        }
        int n = lines(c, maxBytes - size);
        int lines = countLines(n);
        try {
            ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
            while (bb.hasRemaining()) {
                ch.write(bb);
            }
            ch.force(false);
            size += n;
            r.written = lines;
            r.dropReason = Counters.FALLBACK_FULL;
        } catch (IOException e) {
            closeQuietly();
            r.dropReason = Counters.FALLBACK_ERROR;
            r.error = new LogfluxException(LogfluxException.Kind.FALLBACK, null, "fallback file " + path + ": " + e, e);
        }
        return r;
    }

    /** Lays out c's entries one per line in buf, as long as they fit in room bytes (room < 0: no limit). */
    private int lines(Chunk c, long room) {
        int n = 0;
        for (int i = 0; i < c.count; i++) {
            int len = c.ends[i] - c.starts[i];
            if (room >= 0 && n + len + 1 > room) {
                continue;
            }
            if (n + len + 1 > buf.length) {
                buf = java.util.Arrays.copyOf(buf, Math.max(buf.length * 2, n + len + 1));
            }
            System.arraycopy(c.buf, c.starts[i], buf, n, len);
            n += len;
            buf[n++] = '\n';
        }
        return n;
    }

    private int countLines(int n) {
        int lines = 0;
        for (int i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                lines++;
            }
        }
        return lines;
    }

    /** Opens the file unless the open one is still the file at path. */
    private void open() throws IOException {
        if (ch != null) {
            try {
                Object key = Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
                if (key != null && key.equals(fileKey)) {
                    size = ch.size();
                    return;
                }
            } catch (IOException e) {
                // removed: open again below
            }
            closeQuietly();
        }
        try {
            Files.createFile(path, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (FileAlreadyExistsException e) {
            // appended to
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: created by the open below
        }
        ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        fileKey = Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
        size = ch.size();
    }

    private void closeQuietly() {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing more to do
            }
            ch = null;
        }
    }

    void close() {
        closeQuietly();
    }
}
