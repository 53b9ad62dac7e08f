// An HttpsURLConnection client (the blocking SSLSocket path) POSTing JSON, for apitop's Java
// capture tests. Run with the source launcher:
//
//   java tests/java/UrlConnectionPost.java --url https://127.0.0.1:PORT/api/orders --cacert cert.pem
//        [--count N] [--interval-ms MS] [--until-stdin-eof] [--stdin] [--quiet] [--pad BYTES]
//
// Same modes and output as HttpClientPost.java ("resp SEQ STATUS HTTP/1.1 BODY" per request;
// with --stdin, "run N" prints "done N avg_us=.. p50_us=.. p99_us=.."). Keep-alive is the JDK's
// default, so consecutive requests reuse one TLS socket.
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Arrays;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;

public class UrlConnectionPost {
    public static void main(String[] a) throws Exception {
        String url = null;
        Path ca = null;
        long count = 0;
        long interval = 200;
        boolean stdinStop = false;
        boolean commands = false;
        boolean quiet = false;
        int pad = 0;
        for (int i = 0; i < a.length; i++) {
            switch (a[i]) {
                case "--url": url = a[++i]; break;
                case "--cacert": ca = Path.of(a[++i]); break;
                case "--count": count = Long.parseLong(a[++i]); break;
                case "--interval-ms": interval = Long.parseLong(a[++i]); break;
                case "--until-stdin-eof": stdinStop = true; break;
                case "--stdin": commands = true; break;
                case "--quiet": quiet = true; break;
                case "--pad": pad = Integer.parseInt(a[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + a[i]);
            }
        }
        if (url == null || ca == null) {
            throw new IllegalArgumentException("--url and --cacert are required");
        }
        SSLSocketFactory f = trusting(ca).getSocketFactory();
        URL u = java.net.URI.create(url).toURL();
        if (commands) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            long seq = 0;
            for (String line; (line = in.readLine()) != null; ) {
                String[] w = line.trim().split("\\s+");
                if (w.length == 2 && w[0].equals("run")) {
                    int n = Integer.parseInt(w[1]);
                    long[] us = new long[n];
                    for (int i = 0; i < n; i++) {
                        long t0 = System.nanoTime();
                        post(f, u, ++seq, true, pad);
                        us[i] = (System.nanoTime() - t0) / 1000;
                    }
                    System.out.println(summary(us));
                    System.out.flush();
                }
            }
            return;
        }
        if (stdinStop) {
            Thread t = new Thread(() -> {
                try {
                    while (System.in.read() >= 0) {
                        // wait for EOF
                    }
                } catch (Exception e) {
                    // treat as EOF
                }
                System.exit(0);
            });
            t.setDaemon(true);
            t.start();
        }
        for (long seq = 1; count == 0 || seq <= count; seq++) {
            post(f, u, seq, quiet, pad);
            if (interval > 0) {
                Thread.sleep(interval);
            }
        }
    }

    static void post(SSLSocketFactory f, URL u, long seq, boolean quiet, int pad) throws Exception {
        byte[] json = ("{\"seq\":" + seq + (pad > 0 ? ",\"pad\":\"" + "x".repeat(pad) + "\"" : "") + ",\"client\":\"java-urlconnection\",\"items\":[{\"sku\":\"B-2\",\"qty\":1}]}")
                .getBytes(StandardCharsets.UTF_8);
        HttpsURLConnection c = (HttpsURLConnection) u.openConnection();
        c.setSSLSocketFactory(f);
        c.setRequestMethod("POST");
        c.setDoOutput(true);
        c.setFixedLengthStreamingMode(json.length);
        c.setRequestProperty("Content-Type", "application/json");
        c.setRequestProperty("Accept", "application/json");
        c.setConnectTimeout(30000);
        c.setReadTimeout(10000);
        try (OutputStream out = c.getOutputStream()) {
            out.write(json);
        }
        int status = c.getResponseCode();
        String body;
        try (InputStream in = status < 400 ? c.getInputStream() : c.getErrorStream()) {
            body = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        if (!quiet) {
            System.out.println("resp " + seq + " " + status + " HTTP/1.1 " + body);
            System.out.flush();
        }
    }

    static SSLContext trusting(Path pem) throws Exception {
        KeyStore ts = KeyStore.getInstance(KeyStore.getDefaultType());
        ts.load(null, null);
        int i = 0;
        for (Certificate c : CertificateFactory.getInstance("X.509")
                .generateCertificates(Files.newInputStream(pem))) {
            ts.setCertificateEntry("ca" + i++, c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ts);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    static String summary(long[] us) {
        long[] s = us.clone();
        Arrays.sort(s);
        double avg = Arrays.stream(s).average().orElse(0);
        return String.format("done %d avg_us=%.1f p50_us=%d p99_us=%d", s.length, avg,
                s.length == 0 ? 0 : s[s.length / 2], s.length == 0 ? 0 : s[(int) (s.length * 0.99)]);
    }
}
