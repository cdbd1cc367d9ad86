package org.logflux.agent;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** One address the agent may listen on, and the discovery order of the SDK. */
final class Endpoint {
    /** Environment variables read when the builder leaves the field unset. */
    static final String ENV_ADDR = "LOGFLUX_AGENT_ADDR";
    static final String ENV_SECRET = "LOGFLUX_SHARED_SECRET";

    /** The Unix sockets tried, in order, when neither the builder nor the environment names an address. */
    static final List<String> DEFAULT_SOCKETS = List.of("/tmp/logflux-agent.sock", "/var/run/logflux-agent/agent.sock");

    final boolean unix;
    final String path; // unix
    final String host; // tcp
    final int port; // tcp

    private Endpoint(boolean unix, String path, String host, int port) {
        this.unix = unix;
        this.path = path;
        this.host = host;
        this.port = port;
    }

    static Endpoint unix(String path) {
        return new Endpoint(true, path, null, 0);
    }

    SocketAddress socketAddress() {
        return unix ? UnixDomainSocketAddress.of(path) : new InetSocketAddress(host, port);
    }

    @Override
    public String toString() {
        if (unix) {
            return "unix://" + path;
        }
        return "tcp://" + (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    /** Reads "unix:///path" or "tcp://host:port". */
    static Endpoint parse(String s) {
        if (s.startsWith("unix://")) {
            String p = s.substring("unix://".length());
            if (!p.startsWith("/")) {
                throw new IllegalArgumentException("address \"" + s + "\": a unix address needs an absolute path (unix:///path)");
            }
            return unix(p);
        }
        if (s.startsWith("tcp://")) {
            String hp = s.substring("tcp://".length());
            int colon = hp.lastIndexOf(':');
            String host = colon > 0 ? hp.substring(0, colon) : "";
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            int port = -1;
            try {
                port = colon > 0 ? Integer.parseInt(hp.substring(colon + 1)) : -1;
            } catch (NumberFormatException e) {
                // reported below
            }
            if (host.isEmpty() || port < 1 || port > 65535) {
                throw new IllegalArgumentException("address \"" + s + "\": want tcp://host:port");
            }
            return new Endpoint(false, null, host, port);
        }
        throw new IllegalArgumentException("address \"" + s + "\": want unix:///path or tcp://host:port");
    }

    /**
     * The endpoints to try, in order: the configured address, else the one in the environment, else the default
     * sockets. Discovery runs again at every connection attempt over this list.
     */
    static List<Endpoint> discover(String addr, Function<String, String> env) {
        if (addr == null || addr.isEmpty()) {
            String fromEnv = env.apply(ENV_ADDR);
            if (fromEnv != null && !fromEnv.isEmpty()) {
                try {
                    return List.of(parse(fromEnv));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(ENV_ADDR + ": " + e.getMessage());
                }
            }
            List<Endpoint> eps = new ArrayList<>();
            for (String p : DEFAULT_SOCKETS) {
                eps.add(unix(p));
            }
            return eps;
        }
        return List.of(parse(addr));
    }
}
