package apitop.agent.boot;

import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.net.InetAddress;
import java.net.Inet6Address;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSocket;

/**
 * Connection ids: a weak identity map from each SSLSocket/SSLEngine to its {@link Conn}.
 *
 * <p>Weak, so that the agent never keeps a connection alive; identity, because the key is the
 * object itself, whatever its equals. Ids come from one counter and are never reused: a closed
 * connection's object is removed from the map and, should it carry data again, gets a new id.
 * Concurrent, because hooks run on application threads and must not wait on a lock.
 */
final class Conns {
    static final byte ROLE_UNKNOWN = 0;
    static final byte ROLE_CLIENT = 1;
    static final byte ROLE_SERVER = 2;
    static final byte PATH_SOCKET = 1;
    static final byte PATH_ENGINE = 2;

    private static final AtomicLong NEXT_ID = new AtomicLong(1);
    private static final ConcurrentHashMap<Object, Conn> MAP = new ConcurrentHashMap<>();
    private static final ReferenceQueue<Object> GONE = new ReferenceQueue<>();

    private Conns() {}

    static Conn forSocket(SSLSocket s) {
        Conn c = MAP.get(new Probe(s));
        if (c != null) {
            return c;
        }
        byte role = ROLE_UNKNOWN;
        try {
            role = s.getUseClientMode() ? ROLE_CLIENT : ROLE_SERVER;
        } catch (Throwable t) {
            // unknown role is allowed by the protocol
        }
        String local = addr(s.getLocalAddress(), s.getLocalPort());
        String peer = addr(s.getInetAddress(), s.getPort());
        return register(s, role, PATH_SOCKET, local, peer);
    }

    static Conn forEngine(SSLEngine e) {
        Conn c = MAP.get(new Probe(e));
        if (c != null) {
            return c;
        }
        byte role = ROLE_UNKNOWN;
        try {
            role = e.getUseClientMode() ? ROLE_CLIENT : ROLE_SERVER;
        } catch (Throwable t) {
            // unknown role is allowed by the protocol
        }
        String host = e.getPeerHost();
        int port = e.getPeerPort();
        // An engine has no local address; its peer is what the application told it, often a
        // host name. Both parts or nothing: "host:-1" would not parse as an address.
        String peer = host == null || host.isEmpty() || port < 0 ? "" : hostPort(host, port);
        return register(e, role, PATH_ENGINE, "", peer);
    }

    private static Conn register(Object o, byte role, byte path, String local, String peer) {
        Conn fresh = new Conn(NEXT_ID.getAndIncrement(), role, path, local, peer);
        Conn prior = MAP.putIfAbsent(new Key(o, GONE), fresh);
        return prior != null ? prior : fresh; // a lost race wastes an id, never reuses one
    }

    /** The socket or engine closed: its id ends here (CLOSE is sent if it was ever announced). */
    static void close(Object o) {
        Conn c = MAP.remove(new Probe(o));
        if (c != null) {
            Sender.close(c);
        }
    }

    /** Connections whose object was collected without a close: they end too (writer thread). */
    static void expunge() {
        for (Object r; (r = GONE.poll()) != null; ) {
            Conn c = MAP.remove(r);
            if (c != null) {
                Sender.close(c);
            }
        }
    }

    private static String addr(InetAddress a, int port) {
        if (a == null || port <= 0) {
            return "";
        }
        return hostPort(a.getHostAddress(), port, a instanceof Inet6Address);
    }

    private static String hostPort(String host, int port) {
        return hostPort(host, port, host.indexOf(':') >= 0);
    }

    private static String hostPort(String host, int port, boolean v6) {
        // IPv6 in brackets, as in URLs, so that the last ':' always separates the port.
        int pct = host.indexOf('%'); // drop a zone id: not part of the address apitop matches
        String h = v6 && pct >= 0 ? host.substring(0, pct) : host;
        return v6 ? "[" + h + "]:" + port : h + ":" + port;
    }

    /** Identity comparison shared by the stored weak key and the lookup probe. */
    private interface Ref {
        Object referent();
    }

    private static boolean same(Ref a, Object b) {
        if (!(b instanceof Ref)) {
            return false;
        }
        Object x = a.referent();
        return x != null && x == ((Ref) b).referent();
    }

    private static final class Key extends WeakReference<Object> implements Ref {
        private final int hash;

        Key(Object o, ReferenceQueue<Object> q) {
            super(o, q);
            hash = System.identityHashCode(o);
        }

        @Override
        public Object referent() {
            return get();
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object other) {
            return this == other || same(this, other);
        }
    }

    /** A short-lived lookup key: no WeakReference allocated for a lookup. */
    private static final class Probe implements Ref {
        private final Object o;

        Probe(Object o) {
            this.o = o;
        }

        @Override
        public Object referent() {
            return o;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(o);
        }

        @Override
        public boolean equals(Object other) {
            return same(this, other);
        }
    }
}
