package apitop.agent.boot;

import java.nio.ByteBuffer;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLSocket;

/**
 * The static methods the instrumented JSSE code calls (see SslTransformer for where).
 *
 * <p>This class lives in the bootstrap class loader (appended by the agent), because the
 * instrumented classes are in java.base and can only resolve classes from there. Every method:
 * checks the volatile {@link #on} flag first (the whole cost when apitop is gone), never blocks
 * (the bytes are copied into {@link Sender}'s bounded queue), and catches every Throwable so that
 * nothing from the agent can reach the application.
 */
public final class Hooks {
    /** True while a receiver is connected; false makes every hook return at once. */
    static volatile boolean on;
    /** Set once the JSSE classes are instrumented, so a second agent load only reconnects. */
    private static volatile boolean installed;
    /** Throwables caught inside hooks (a bug in the agent; never propagated). */
    static volatile long faults;

    private Hooks() {}

    public static boolean isInstalled() {
        return installed;
    }

    public static void markInstalled() {
        installed = true;
    }

    /** Called by the agent (not by the application): connects to a new receiver. */
    public static String connect(String sockPath, String token) {
        return Sender.connect(sockPath, token);
    }

    static void fault(Throwable t) {
        faults++; // racy by design: a diagnostic count, never a reason to lock
    }

    // ---- SSLSocket path: SSLSocketImpl$AppInputStream / $AppOutputStream / SSLSocketImpl ----

    /** Before each return of AppInputStream.read(byte[],int,int): n bytes were read into b[off..]. */
    public static void sockRead(int n, SSLSocket s, byte[] b, int off) {
        if (!on || n <= 0) {
            return;
        }
        try {
            Sender.data(Conns.forSocket(s), Sender.RECEIVED, b, off, n);
        } catch (Throwable t) {
            fault(t);
        }
    }

    /** At the entry of AppOutputStream.write(byte[],int,int): before the bytes leave. */
    public static void sockWrite(SSLSocket s, byte[] b, int off, int len) {
        if (!on || len <= 0) {
            return;
        }
        try {
            Sender.data(Conns.forSocket(s), Sender.SENT, b, off, len);
        } catch (Throwable t) {
            fault(t);
        }
    }

    /** At the entry of SSLSocketImpl.close(). */
    public static void sockClose(SSLSocket s) {
        if (!on) {
            return;
        }
        try {
            Conns.close(s);
        } catch (Throwable t) {
            fault(t);
        }
    }

    // ---- SSLEngine path: SSLEngineImpl.wrap / unwrap (4-argument forms) ----

    /**
     * At the entry of wrap/unwrap: the positions of the buffers whose progress tells which
     * plaintext bytes the call consumed or produced; null when off (the exit hook then skips).
     */
    public static int[] engEnter(ByteBuffer[] bufs, int off, int len) {
        if (!on) {
            return null;
        }
        try {
            if (bufs == null || off < 0 || len <= 0 || off + len > bufs.length) {
                return null;
            }
            int[] pos = new int[len];
            for (int i = 0; i < len; i++) {
                ByteBuffer b = bufs[off + i];
                pos[i] = b == null ? -1 : b.position();
            }
            return pos;
        } catch (Throwable t) {
            fault(t);
            return null;
        }
    }

    /**
     * Before the return of wrap(ByteBuffer[],int,int,ByteBuffer): srcs advanced past what it
     * encrypted. Still before the bytes leave: the caller sends the TLS records after wrap.
     */
    public static void engWrapExit(
            SSLEngineResult r, SSLEngine e, ByteBuffer[] srcs, int off, int len, int[] pos) {
        if (!on || pos == null) {
            return;
        }
        try {
            engExit(r, e, srcs, off, len, pos, Sender.SENT, r == null ? 0 : r.bytesConsumed());
        } catch (Throwable t) {
            fault(t);
        }
    }

    /** Before the return of unwrap(ByteBuffer,ByteBuffer[],int,int): dsts advanced past what it got. */
    public static void engUnwrapExit(
            SSLEngineResult r, SSLEngine e, ByteBuffer[] dsts, int off, int len, int[] pos) {
        if (!on || pos == null) {
            return;
        }
        try {
            engExit(r, e, dsts, off, len, pos, Sender.RECEIVED, r == null ? 0 : r.bytesProduced());
        } catch (Throwable t) {
            fault(t);
        }
    }

    private static void engExit(
            SSLEngineResult r, SSLEngine e, ByteBuffer[] bufs, int off, int len, int[] pos,
            byte dir, int expected) {
        if (expected > 0) {
            // The bytes between each buffer's old and new position, in buffer order: what the
            // engine took from (wrap) or put into (unwrap) the application's buffers.
            byte[] data = new byte[expected];
            int n = 0;
            for (int i = 0; i < len && n < expected; i++) {
                ByteBuffer b = bufs[off + i];
                if (b == null || pos[i] < 0) {
                    continue;
                }
                int moved = Math.min(b.position() - pos[i], expected - n);
                if (moved > 0) {
                    b.get(pos[i], data, n, moved); // absolute: the buffer's state is untouched
                    n += moved;
                }
            }
            if (n > 0) {
                Sender.data(Conns.forEngine(e), dir, data, 0, n, n == expected);
            }
        }
        if (r != null && r.getStatus() == SSLEngineResult.Status.CLOSED
                && e.isInboundDone() && e.isOutboundDone()) {
            Conns.close(e);
        }
    }
}
