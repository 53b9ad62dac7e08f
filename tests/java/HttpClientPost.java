// A JDK HttpClient (java.net.http, the SSLEngine path) POSTing JSON over TLS, for apitop's Java
// capture tests. Run with the source launcher:
//
//   java tests/java/HttpClientPost.java --url https://127.0.0.1:PORT/api/orders --cacert cert.pem
//        [--http 1.1|2] [--count N] [--interval-ms MS] [--until-stdin-eof] [--stdin] [--quiet] [--pad BYTES]
//
// Trusts only --cacert (a PEM certificate, e.g. the one JsonHttpsServer or openssl wrote).
// Loop mode (default): one POST of {"seq":N,...} every --interval-ms (default 200), --count
// times (0 = until stopped: SIGTERM, or stdin EOF with --until-stdin-eof); prints
// "resp SEQ STATUS VERSION BODY" per request. --stdin: reads commands, "run N" does N requests
// back to back and prints "done N avg_us=.. p50_us=.. p99_us=.."; EOF ends the program.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Arrays;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class HttpClientPost {
    public static void main(String[] a) throws Exception {
        String url = null;
        Path ca = null;
        String http = "1.1";
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
                case "--http": http = a[++i]; break;
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
        HttpClient client = HttpClient.newBuilder()
                .sslContext(trusting(ca))
                .version(http.equals("2") ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(30))
                .build();
        URI uri = URI.create(url);
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
                        post(client, uri, ++seq, true, pad);
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
            post(client, uri, seq, quiet, pad);
            if (interval > 0) {
                Thread.sleep(interval);
            }
        }
    }

    static void post(HttpClient client, URI uri, long seq, boolean quiet, int pad) throws Exception {
        String json = "{\"seq\":" + seq + (pad > 0 ? ",\"pad\":\"" + "x".repeat(pad) + "\"" : "") + ",\"client\":\"java-httpclient\",\"items\":[{\"sku\":\"A-1\",\"qty\":2}]}";
        HttpRequest req = HttpRequest.newBuilder(uri)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .timeout(Duration.ofSeconds(10))
                .POST(HttpRequest.BodyPublishers.ofString(json))
                .build();
        HttpResponse<String> resp = client.send(req, HttpResponse.BodyHandlers.ofString());
        if (!quiet) {
            System.out.println("resp " + seq + " " + resp.statusCode() + " " + resp.version() + " " + resp.body());
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
