package apitop.agent.boot;

import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The hand-off to apitop (protocol v1, see java-agent/README.md): a bounded queue filled by the
 * hooks on application threads, drained by one daemon thread that writes frames to apitop's Unix
 * socket.
 *
 * <p>Application threads only copy bytes and enqueue (lock-free); when the queue holds 8 MiB of
 * payload, further bytes are dropped and counted (DROPPED frames). The writer's channel is
 * non-blocking and also watched for reading: apitop never writes, so readable means EOF, i.e.
 * apitop exited, and the hooks switch off at once rather than at the next write.
 */
final class Sender {
    static final byte SENT = 0;
    static final byte RECEIVED = 1;

    private static final byte HELLO = 1;
    private static final byte CONN = 2;
    private static final byte DATA = 3;
    private static final byte CLOSE = 4;
    private static final byte DROPPED = 5;
    private static final int PROTOCOL = 1;
    private static final int MAX_CHUNK = 65536;
    private static final int MAX_STRING = 4096; // bytes; keeps every CONN frame far below 65,600
    private static final long CAP_BYTES = 8L << 20;
    private static final int CAP_RECORDS = 65536; // CLOSE records carry no payload; bound them too
    private static final long DROPPED_EVERY_NS = 100_000_000L;
    private static final long CONNECT_TIMEOUT_MS = 2000;

    private static final ConcurrentLinkedQueue<Rec> QUEUE = new ConcurrentLinkedQueue<>();
    private static final AtomicLong QUEUED_BYTES = new AtomicLong();
    private static final AtomicInteger QUEUED_RECORDS = new AtomicInteger();
    private static final AtomicLong DROPPED_BYTES = new AtomicLong();
    /** The writer is (about to be) waiting in select: an enqueue must wake it. */
    private static volatile boolean sleeping;
    private static volatile Selector selector;

    /** Guards the hand-over of a new socket from the agent's thread to the writer. */
    private static final Object LOCK = new Object();
    private static Session pending; // guarded by LOCK
    private static Thread writer; // guarded by LOCK
    private static int generation; // guarded by LOCK

    /** Epoch nanoseconds = base + (nanoTime - baseNano): cheap, monotonic between connects. */
    private static volatile long baseEpochNanos;
    private static volatile long baseNano;

    private Sender() {}

    private static final class Rec {
        final byte kind;
        final Conn conn;
        final long ts;
        final byte dir;
        final byte[] data;

        Rec(byte kind, Conn conn, long ts, byte dir, byte[] data) {
            this.kind = kind;
            this.conn = conn;
            this.ts = ts;
            this.dir = dir;
            this.data = data;
        }
    }

    private static final class Session {
        final SocketChannel ch;
        final int gen;

        Session(SocketChannel ch, int gen) {
            this.ch = ch;
            this.gen = gen;
        }
    }

    // ---- application threads ----

    static void data(Conn c, byte dir, byte[] b, int off, int n) {
        if (reserve(n)) {
            byte[] copy = new byte[n];
            System.arraycopy(b, off, copy, 0, n);
            enqueue(new Rec(DATA, c, now(), dir, copy));
        }
    }

    /** Like data, for an array the hook allocated itself (no second copy); n <= data.length. */
    static void data(Conn c, byte dir, byte[] data, int off, int n, boolean exact) {
        if (exact && off == 0 && n == data.length) {
            if (reserve(n)) {
                enqueue(new Rec(DATA, c, now(), dir, data));
            }
        } else {
            data(c, dir, data, off, n);
        }
    }

    static void close(Conn c) {
        if (QUEUED_RECORDS.incrementAndGet() > CAP_RECORDS) {
            QUEUED_RECORDS.decrementAndGet();
            return; // bounded memory first; apitop ages connections out on its side too
        }
        enqueue(new Rec(CLOSE, c, 0, (byte) 0, null));
    }

    private static boolean reserve(int n) {
        if (QUEUED_BYTES.addAndGet(n) > CAP_BYTES) {
            QUEUED_BYTES.addAndGet(-n);
            DROPPED_BYTES.addAndGet(n);
            return false;
        }
        if (QUEUED_RECORDS.incrementAndGet() > CAP_RECORDS) {
            QUEUED_RECORDS.decrementAndGet();
            QUEUED_BYTES.addAndGet(-n);
            DROPPED_BYTES.addAndGet(n);
            return false;
        }
        return true;
    }

    private static void enqueue(Rec r) {
        QUEUE.offer(r);
        if (sleeping) {
            sleeping = false;
            Selector s = selector;
            if (s != null) {
                s.wakeup();
            }
        }
    }

    private static long now() {
        return baseEpochNanos + (System.nanoTime() - baseNano);
    }

    // ---- the agent's thread (agentmain) ----

    /** Connects to apitop and says HELLO; null on success, else why not (the old socket stays). */
    static String connect(String path, String token) {
        synchronized (LOCK) {
            SocketChannel ch = null;
            try {
                ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                connectWithin(ch, UnixDomainSocketAddress.of(path), CONNECT_TIMEOUT_MS);
                ByteBuffer hello = ByteBuffer.allocate(4 + 1 + 8 + 3 * (2 + MAX_STRING));
                hello.order(ByteOrder.LITTLE_ENDIAN);
                int start = begin(hello, HELLO);
                hello.putInt(PROTOCOL);
                hello.putInt((int) ProcessHandle.current().pid());
                putString(hello, System.getProperty("java.version", ""));
                putString(hello, System.getProperty("java.vm.name", ""));
                putString(hello, token);
                end(hello, start);
                hello.flip();
                ch.write(hello); // non-blocking: a fresh socket's buffer takes it at once
                if (hello.hasRemaining()) {
                    throw new IOException("the socket did not take the HELLO frame");
                }
            } catch (Throwable t) {
                closeQuietly(ch);
                return "cannot connect to " + path + ": " + t;
            }
            long epoch = System.currentTimeMillis() * 1_000_000L;
            baseNano = System.nanoTime();
            baseEpochNanos = epoch;
            if (pending != null) {
                closeQuietly(pending.ch);
            }
            pending = new Session(ch, ++generation);
            if (writer == null) {
                writer = new Thread(Sender::run, "apitop-agent-writer");
                writer.setDaemon(true);
                writer.start();
            }
            Hooks.on = true;
        }
        Selector s = selector;
        if (s != null) {
            s.wakeup();
        }
        return null;
    }

    /**
     * connect(2) with a deadline: a listener that never accepts (its backlog full) must not hold
     * the attach thread. Leaves the channel non-blocking.
     */
    private static void connectWithin(SocketChannel ch, UnixDomainSocketAddress to, long ms)
            throws IOException {
        ch.configureBlocking(false);
        if (ch.connect(to)) {
            return;
        }
        try (Selector sel = Selector.open()) {
            ch.register(sel, SelectionKey.OP_CONNECT);
            long deadline = System.nanoTime() + ms * 1_000_000L;
            while (!ch.finishConnect()) {
                long left = (deadline - System.nanoTime()) / 1_000_000L;
                if (left <= 0) {
                    throw new IOException("connect timed out after " + ms + " ms");
                }
                sel.select(left);
            }
        }
    }

    // ---- the writer thread ----

    private static void run() {
        Selector sel;
        try {
            sel = Selector.open();
        } catch (Throwable t) {
            Hooks.on = false;
            return;
        }
        selector = sel;
        Writer w = new Writer();
        for (;;) {
            try {
                w.step(sel);
            } catch (Throwable t) {
                w.teardown();
                try {
                    Thread.sleep(10); // whatever failed, never a busy loop
                } catch (InterruptedException e) {
                    // keep going: this thread lives as long as the JVM
                }
            }
        }
    }

    /** The writer thread's state: its socket, the frames not yet written, a partial record. */
    private static final class Writer {
        final ByteBuffer out = ByteBuffer.allocate(256 * 1024).order(ByteOrder.LITTLE_ENDIAN);
        final ByteBuffer scratch = ByteBuffer.allocate(512);
        Session cur;
        SelectionKey key;
        Rec partial; // a record being encoded across steps (a big DATA, or a full buffer)
        int partialOff;
        long lastDropped = System.nanoTime();

        void step(Selector sel) throws IOException {
            Session p;
            synchronized (LOCK) {
                p = pending;
                pending = null;
            }
            if (p != null) {
                if (cur != null) {
                    closeQuietly(cur.ch);
                }
                cur = p;
                key = cur.ch.register(sel, SelectionKey.OP_READ);
                out.clear();
                partial = null;
            }
            if (cur == null) {
                discardQueue();
                Conns.expunge();
                sleeping = true;
                sel.select(10_000); // a connect() wakes this up
                sleeping = false;
                sel.selectedKeys().clear();
                return;
            }
            long t = System.nanoTime();
            if (t - lastDropped >= DROPPED_EVERY_NS) {
                lastDropped = t;
                Conns.expunge();
                long d = DROPPED_BYTES.getAndSet(0);
                if (d > 0) {
                    if (out.remaining() >= 13) {
                        int start = begin(out, DROPPED);
                        out.putLong(d);
                        end(out, start);
                    } else {
                        DROPPED_BYTES.addAndGet(d); // next time
                    }
                }
            }
            fill();
            if (out.position() > 0) {
                out.flip();
                cur.ch.write(out);
                out.compact();
            }
            boolean backlog = out.position() > 0;
            key.interestOps(SelectionKey.OP_READ | (backlog ? SelectionKey.OP_WRITE : 0));
            sleeping = true;
            boolean more = !backlog && (partial != null || !QUEUE.isEmpty());
            if (more) {
                sel.selectNow();
            } else {
                sel.select(100); // the DROPPED period; an enqueue wakes it earlier
            }
            sleeping = false;
            if (key.isValid() && key.isReadable()) {
                scratch.clear();
                if (cur.ch.read(scratch) < 0) {
                    throw new EOFException("apitop closed the socket");
                }
            }
            sel.selectedKeys().clear();
        }

        /** Encodes queued records into out while they fit. */
        void fill() {
            for (;;) {
                if (partial == null) {
                    Rec r = QUEUE.poll();
                    if (r == null) {
                        return;
                    }
                    QUEUED_RECORDS.decrementAndGet();
                    if (r.data != null) {
                        QUEUED_BYTES.addAndGet(-r.data.length);
                    }
                    partial = r;
                    partialOff = 0;
                }
                if (!encode(partial)) {
                    return; // out is full: write first
                }
                partial = null;
            }
        }

        /** True when the record is fully encoded; false when out ran out of room first. */
        boolean encode(Rec r) {
            Conn c = r.conn;
            if (r.kind == CLOSE) {
                if (c.announcedGen != cur.gen) {
                    return true; // this apitop never heard of it
                }
                if (out.remaining() < 13) {
                    return false;
                }
                int start = begin(out, CLOSE);
                out.putLong(c.id);
                end(out, start);
                return true;
            }
            if (c.announcedGen != cur.gen) {
                if (out.remaining() < 4 + 1 + 10 + 2 * (2 + MAX_STRING)) {
                    return false;
                }
                int start = begin(out, CONN);
                out.putLong(c.id);
                out.put(c.role);
                out.put(c.path);
                putString(out, c.local);
                putString(out, c.peer);
                end(out, start);
                c.announcedGen = cur.gen;
            }
            while (partialOff < r.data.length) {
                int n = Math.min(MAX_CHUNK, r.data.length - partialOff);
                if (out.remaining() < 26 + n) {
                    return false;
                }
                int start = begin(out, DATA);
                out.putLong(c.id);
                out.putLong(r.ts);
                out.put(r.dir);
                out.putInt(n);
                out.put(r.data, partialOff, n);
                end(out, start);
                partialOff += n;
            }
            return true;
        }

        /** The socket failed or apitop exited: hooks off (unless a new apitop is connecting). */
        void teardown() {
            synchronized (LOCK) {
                if (pending == null) {
                    Hooks.on = false;
                }
            }
            if (cur != null) {
                closeQuietly(cur.ch);
            }
            cur = null;
            key = null;
            partial = null;
            out.clear();
            discardQueue();
            DROPPED_BYTES.set(0);
        }
    }

    private static void discardQueue() {
        for (Rec r; (r = QUEUE.poll()) != null; ) {
            QUEUED_RECORDS.decrementAndGet();
            if (r.data != null) {
                QUEUED_BYTES.addAndGet(-r.data.length);
            }
        }
    }

    // ---- framing: u32 body_len (bytes after it: kind + fields) + u8 kind + fields ----

    private static int begin(ByteBuffer b, byte kind) {
        int start = b.position();
        b.putInt(0);
        b.put(kind);
        return start;
    }

    private static void end(ByteBuffer b, int start) {
        b.putInt(start, b.position() - start - 4);
    }

    private static void putString(ByteBuffer b, String s) {
        byte[] u = (s == null ? "" : s).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int n = Math.min(u.length, MAX_STRING);
        // Cut on a UTF-8 character boundary: never a continuation byte (10xxxxxx) first.
        while (n < u.length && n > 0 && (u[n] & 0xC0) == 0x80) {
            n--;
        }
        b.putShort((short) n);
        b.put(u, 0, n);
    }

    private static void closeQuietly(SocketChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (Throwable t) {
                // nothing to do: the socket is gone either way
            }
        }
    }
}
