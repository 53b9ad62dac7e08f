// A stand-in for apitop's agent in tests/java_attach.rs: it proves the attach path (HotSpot's
// attach protocol, the jar and socket directory in the JVM's /tmp, the peer and token checks,
// the frame parser) without instrumenting anything. It writes `out=FILE` when given, and with
// `sock=`/`token=` sends one HTTP exchange in hand-off protocol v1 frames.
import java.lang.instrument.Instrumentation;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

public class TestAgent {
    public static void agentmain(String args, Instrumentation inst) throws Exception {
        String sock = null, token = null, out = null;
        for (String kv : args.split(",")) {
            int i = kv.indexOf('=');
            if (i < 0) continue;
            String k = kv.substring(0, i), v = kv.substring(i + 1);
            if (k.equals("sock")) sock = v;
            else if (k.equals("token")) token = v;
            else if (k.equals("out")) out = v;
        }
        if (out != null) {
            Files.writeString(Path.of(out), "loaded in " + ProcessHandle.current().pid() + "\n");
        }
        if (sock == null) return;
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(sock));
            ByteBuffer b = buf();
            b.putInt(1);
            b.putInt((int) ProcessHandle.current().pid());
            str(b, System.getProperty("java.version"));
            str(b, System.getProperty("java.vm.name"));
            str(b, token);
            frame(ch, 1, b);
            b = buf();
            b.putLong(1);
            b.put((byte) 1);
            b.put((byte) 1);
            str(b, "127.0.0.1:40001");
            str(b, "127.0.0.1:8443");
            frame(ch, 2, b);
            data(ch, 0, "POST /java-test HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
            data(ch, 1, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            b = buf();
            b.putLong(1);
            frame(ch, 4, b);
        }
    }

    static ByteBuffer buf() {
        return ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
    }

    static void str(ByteBuffer b, String s) {
        byte[] x = s.getBytes(StandardCharsets.UTF_8);
        b.putShort((short) x.length);
        b.put(x);
    }

    static void data(SocketChannel ch, int dir, String s) throws Exception {
        byte[] x = s.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = buf();
        b.putLong(1);
        java.time.Instant now = java.time.Instant.now();
        b.putLong(now.getEpochSecond() * 1_000_000_000L + now.getNano());
        b.put((byte) dir);
        b.putInt(x.length);
        b.put(x);
        frame(ch, 3, b);
    }

    static void frame(SocketChannel ch, int kind, ByteBuffer body) throws Exception {
        body.flip();
        ByteBuffer f = ByteBuffer.allocate(5 + body.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        f.putInt(1 + body.remaining());
        f.put((byte) kind);
        f.put(body);
        f.flip();
        while (f.hasRemaining()) ch.write(f);
    }
}
