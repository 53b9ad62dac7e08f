package apitop.agent.boot;

/** One TLS connection as the protocol names it: its id and the CONN frame's fields. */
final class Conn {
    final long id;
    final byte role;
    final byte path;
    final String local;
    final String peer;
    /** The socket generation that last got this CONN frame (writer thread only). */
    int announcedGen;

    Conn(long id, byte role, byte path, String local, String peer) {
        this.id = id;
        this.role = role;
        this.path = path;
        this.local = local;
        this.peer = peer;
    }
}
