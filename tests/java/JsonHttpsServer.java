// A JDK HTTPS server answering JSON (com.sun.net.httpserver.HttpsServer, i.e. the SSLEngine
// path), for apitop's Java capture tests. Run with the source launcher:
//
//   java tests/java/JsonHttpsServer.java [--port P] [--dir D] [--cert cert.pem --key key.pem]
//
// Without --cert/--key it makes a self-signed EC certificate for localhost/127.0.0.1 with keytool
// into D (default: a new temp dir) and writes it as D/cert.pem for the clients to trust. Prints
// one line "listening PORT CERT_PEM" once ready. Every request gets 200 and
// {"method":..,"path":..,"received":<body bytes>,"echo":<the body if it is JSON>,"n":<count>}.
// Stops on SIGTERM, or when stdin ends if --until-stdin-eof is given.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

public class JsonHttpsServer {
    public static void main(String[] a) throws Exception {
        int port = 0;
        Path dir = null;
        Path cert = null;
        Path key = null;
        boolean stdinStop = false;
        for (int i = 0; i < a.length; i++) {
            switch (a[i]) {
                case "--port": port = Integer.parseInt(a[++i]); break;
                case "--dir": dir = Path.of(a[++i]); break;
                case "--cert": cert = Path.of(a[++i]); break;
                case "--key": key = Path.of(a[++i]); break;
                case "--until-stdin-eof": stdinStop = true; break;
                default: throw new IllegalArgumentException("unknown argument " + a[i]);
            }
        }
        if (dir == null) {
            dir = Files.createTempDirectory("jsonhttps");
        }
        Files.createDirectories(dir);
        char[] pass = "changeit".toCharArray();
        KeyStore ks;
        if (cert != null && key != null) {
            ks = fromPem(cert, key, pass);
        } else {
            cert = dir.resolve("cert.pem");
            ks = generated(dir, cert, pass);
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, pass);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);

        // The JDK server writes headers and body separately: without TCP_NODELAY every
        // response waits out the client's delayed ACK (about 40 ms on Linux).
        System.setProperty("sun.net.httpserver.nodelay", "true");
        HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", port), 64);
        server.setHttpsConfigurator(new HttpsConfigurator(ctx));
        AtomicLong count = new AtomicLong();
        server.createContext("/", ex -> answer(ex, count.incrementAndGet()));
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
        System.out.println("listening " + server.getAddress().getPort() + " " + cert.toAbsolutePath());
        System.out.flush();
        if (stdinStop) {
            while (System.in.read() >= 0) {
                // wait for EOF
            }
            server.stop(0);
            System.exit(0);
        }
    }

    static void answer(HttpExchange ex, long n) throws java.io.IOException {
        try (ex) {
            byte[] body;
            try (InputStream in = ex.getRequestBody()) {
                body = in.readAllBytes();
            }
            String text = new String(body, StandardCharsets.UTF_8).trim();
            boolean json = text.startsWith("{") || text.startsWith("[");
            String reply = "{\"method\":\"" + ex.getRequestMethod() + "\",\"path\":\""
                    + ex.getRequestURI().getPath().replace("\"", "") + "\",\"received\":" + body.length
                    + ",\"echo\":" + (json ? text : "null") + ",\"n\":" + n + "}";
            byte[] out = reply.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, out.length);
            try (OutputStream os = ex.getResponseBody()) {
                os.write(out);
            }
        }
    }

    /** keytool: a self-signed EC key pair for localhost and 127.0.0.1; its cert as PEM. */
    static KeyStore generated(Path dir, Path certPem, char[] pass) throws Exception {
        Path ks = dir.resolve("server.p12");
        Files.deleteIfExists(ks);
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        run(keytool, "-genkeypair", "-keyalg", "EC", "-groupname", "secp256r1", "-alias", "server",
                "-dname", "CN=localhost", "-ext", "san=dns:localhost,ip:127.0.0.1", "-validity", "2",
                "-storetype", "PKCS12", "-keystore", ks.toString(), "-storepass", new String(pass));
        run(keytool, "-exportcert", "-rfc", "-alias", "server", "-keystore", ks.toString(),
                "-storepass", new String(pass), "-file", certPem.toString());
        KeyStore k = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(ks)) {
            k.load(in, pass);
        }
        return k;
    }

    /** An openssl certificate and PKCS#8 key (as tests/support's cert() makes them). */
    static KeyStore fromPem(Path cert, Path key, char[] pass) throws Exception {
        Certificate c = CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(Files.readAllBytes(cert)));
        String pem = Files.readString(key);
        if (!pem.contains("BEGIN PRIVATE KEY")) {
            throw new IllegalArgumentException(key + ": expected a PKCS#8 'BEGIN PRIVATE KEY' PEM");
        }
        String b64 = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        byte[] der = Base64.getDecoder().decode(b64);
        String alg = c.getPublicKey().getAlgorithm();
        PrivateKey pk = KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
        KeyStore k = KeyStore.getInstance("PKCS12");
        k.load(null, null);
        k.setKeyEntry("server", pk, pass, new Certificate[] {c});
        return k;
    }

    static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        }
    }
}
