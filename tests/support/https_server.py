"""TLS test server for apitop's end-to-end tests (HTTP/1.1, keep-alive); with --plain, the
same routes over plain HTTP.

Prints "PORT <n>" once listening. Routes:
  GET  /json            small JSON document
  POST /echo            echoes the request body (same content type)
  GET  /big?n=N         N bytes of a repeating pattern (default 1 MiB)
  GET  /chunked         JSON sent with Transfer-Encoding: chunked, in three chunks
  GET  /gzip            JSON with Content-Encoding: gzip
  GET  /k/<n>           {"n": n}, for keep-alive runs
"""
import gzip, http.server, json, ssl, sys

PATTERN = b"0123456789abcdef"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/json":
            self.send(200, json.dumps({"users": [{"id": 1, "name": "ada"}], "ok": True}).encode())
        elif path == "/big":
            n = int(query.partition("=")[2] or 1048576)
            body = (PATTERN * (n // len(PATTERN) + 1))[:n]
            self.send(200, body, "application/octet-stream")
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"items": [', b'1, 2, 3', b"]}"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/gzip":
            body = gzip.compress(json.dumps({"compressed": True, "items": list(range(50))}).encode())
            self.send(200, body, extra=[("Content-Encoding", "gzip")])
        elif path.startswith("/k/"):
            self.send(200, json.dumps({"n": int(path[3:])}).encode())
        else:
            self.send(404, b'{"error": "not found"}')

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        if self.path.partition("?")[0] == "/echo":
            self.send(200, body, self.headers.get("Content-Type", "application/octet-stream"))
        else:
            self.send(404, b'{"error": "not found"}')


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if sys.argv[1:] != ["--plain"]:
        cert, key = sys.argv[1], sys.argv[2]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("PORT", srv.server_address[1], flush=True)
    srv.serve_forever()


main()
