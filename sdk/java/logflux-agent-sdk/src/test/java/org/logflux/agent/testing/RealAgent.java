package org.logflux.agent.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.logflux.agent.internal.Json;

/**
 * The real agent binary built from this repository, run on a Unix socket in a temporary directory (and on a loopback
 * TCP port when a secret is given), with its admin server off. Its file output is {@code data/entries.ndjson}.
 */
public final class RealAgent implements AutoCloseable {
    public static final String SECRET = "java-sdk-test-secret-0123456789abcdef";

    private final Path dir;
    private final Path sock;
    private final Path data;
    private final String tcp;
    private final List<String> extraArgs;
    private Process proc;

    private RealAgent(Path dir, boolean withTcp, List<String> extraArgs) throws IOException {
        this.dir = dir;
        this.sock = dir.resolve("agent.sock");
        this.data = dir.resolve("data");
        this.tcp = withTcp ? "127.0.0.1:" + freePort() : null;
        this.extraArgs = extraArgs;
    }

    /** Starts an agent on a Unix socket in dir. */
    public static RealAgent startUnix(Path dir) throws IOException {
        RealAgent a = new RealAgent(dir, false, List.of());
        a.start();
        return a;
    }

    /** Starts an agent on a Unix socket and a loopback TCP port with {@link #SECRET}. */
    public static RealAgent startWithTcp(Path dir, String... extraArgs) throws IOException {
        RealAgent a = new RealAgent(dir, true, List.of(extraArgs));
        a.start();
        return a;
    }

    /** The agent binary: the system property or environment variable logflux.agent.bin / LOGFLUX_AGENT_BIN. */
    public static Path binary() {
        String bin = System.getProperty("logflux.agent.bin");
        if (bin == null || bin.isEmpty() || bin.startsWith("${")) {
            bin = System.getenv("LOGFLUX_AGENT_BIN");
        }
        if (bin == null || bin.isEmpty()) {
            throw new IllegalStateException("set LOGFLUX_AGENT_BIN to the agent binary (sdk/java/ci-test.sh builds it)");
        }
        Path p = Path.of(bin);
        if (!Files.isExecutable(p)) {
            throw new IllegalStateException("LOGFLUX_AGENT_BIN " + p + " is not an executable file");
        }
        return p;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    public void start() throws IOException {
        List<String> cmd = new ArrayList<>(List.of(binary().toString(), "run", "--unix-path", sock.toString(),
                "--data-dir", data.toString(), "--admin-address", "off"));
        if (tcp != null) {
            cmd.addAll(List.of("--tcp-address", tcp, "--shared-secret", SECRET));
        }
        cmd.addAll(extraArgs);
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().remove("LOGFLUX_API_KEY");
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("agent.log").toFile()));
        proc = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (true) {
            if (!proc.isAlive()) {
                throw new IllegalStateException("agent exited at start:\n" + log());
            }
            if (listening()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                kill();
                throw new IllegalStateException("agent not listening after 15s:\n" + log());
            }
            sleep(10);
        }
    }

    private boolean listening() {
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            c.connect(UnixDomainSocketAddress.of(sock));
        } catch (IOException e) {
            return false;
        }
        if (tcp == null) {
            return true;
        }
        try (SocketChannel c = SocketChannel.open()) {
            c.connect(tcpAddress());
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private InetSocketAddress tcpAddress() {
        int colon = tcp.lastIndexOf(':');
        return new InetSocketAddress(tcp.substring(0, colon), Integer.parseInt(tcp.substring(colon + 1)));
    }

    /** The CPU time the agent process has used so far (user and system), or -1 when the platform does not say. */
    public long cpuNanos() {
        Process p = proc;
        return p == null ? -1 : p.toHandle().info().totalCpuDuration().map(java.time.Duration::toNanos).orElse(-1L);
    }

    public String unixAddress() {
        return "unix://" + sock;
    }

    public Path socketPath() {
        return sock;
    }

    public String tcpAddressString() {
        return "tcp://" + tcp;
    }

    public InetSocketAddress tcpSocketAddress() {
        return tcpAddress();
    }

    /** Stops the agent with SIGTERM (it drains), or kills it after 10 seconds. */
    public void stop() {
        if (proc == null) {
            return;
        }
        proc.destroy();
        try {
            if (!proc.waitFor(10, TimeUnit.SECONDS)) {
                proc.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        proc = null;
    }

    /** Kills the agent (SIGKILL), as a crash would. */
    public void kill() {
        if (proc == null) {
            return;
        }
        proc.destroyForcibly();
        try {
            proc.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        proc = null;
    }

    @Override
    public void close() {
        stop();
    }

    public String log() {
        try {
            return Files.readString(dir.resolve("agent.log"));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    public Path entriesFile() {
        return data.resolve("entries.ndjson");
    }

    /** Every entry the agent wrote to its file output so far, in order. */
    public List<Map<String, Object>> stored() throws IOException {
        List<Map<String, Object>> out = new ArrayList<>();
        Path f = entriesFile();
        if (!Files.exists(f)) {
            return out;
        }
        byte[] all = Files.readAllBytes(f);
        int start = 0;
        for (int i = 0; i < all.length; i++) {
            if (all[i] == '\n') {
                if (i > start) {
                    out.add(Json.parseObject(all, start, i - start));
                }
                start = i + 1;
            }
        }
        return out;
    }

    /** Waits until at least n entries are stored (the output writes after the queue accepted). */
    public List<Map<String, Object>> waitStored(int n, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<Map<String, Object>> s = stored();
        while (s.size() < n && System.nanoTime() < deadline) {
            sleep(20);
            s = stored();
        }
        return s;
    }

    public static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Reads the entries file from where the last call stopped: only new complete lines are parsed. */
    public final class Tail {
        private long offset;
        private final List<Map<String, Object>> all = new ArrayList<>();

        public List<Map<String, Object>> poll() throws IOException {
            Path f = entriesFile();
            if (Files.exists(f)) {
                try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(f)) {
                    long size = ch.size();
                    if (size > offset) {
                        java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate((int) (size - offset));
                        while (bb.hasRemaining() && ch.read(bb, offset + bb.position()) > 0) {
                            // read on
                        }
                        byte[] b = bb.array();
                        int start = 0;
                        for (int i = 0; i < bb.position(); i++) {
                            if (b[i] == '\n') {
                                if (i > start) {
                                    all.add(Json.parseObject(b, start, i - start));
                                }
                                start = i + 1;
                            }
                        }
                        offset += start;
                    }
                }
            }
            return all;
        }
    }

    public Tail tail() {
        return new Tail();
    }

    /** The payloads of entries, for comparisons. */
    public static List<String> payloads(List<Map<String, Object>> entries) {
        List<String> out = new ArrayList<>();
        for (Map<String, Object> e : entries) {
            out.add((String) e.get("payload"));
        }
        return out;
    }

    /** Reads a file as UTF-8 lines. */
    public static List<String> lines(Path p) throws IOException {
        return Files.readAllLines(p, StandardCharsets.UTF_8);
    }
}
