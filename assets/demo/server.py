"""Demo API server for assets/sample.apitop: several virtual hosts (by Host header) on one TLS port."""
import gzip, http.server, json, random, ssl, sys, time, uuid

random.seed(7)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + bytes(range(64))


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj=None, raw=None, ctype="application/json", extra=()):
        body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else b"")
        self.send_response(status)
        if body or status != 204:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", str(uuid.UUID(int=random.getrandbits(128))))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length", 0))
        return self.rfile.read(n)

    def do_GET(self):
        host = self.headers.get("Host", "").split(":")[0]
        path, _, q = self.path.partition("?")
        parts = path.strip("/").split("/")
        if path == "/health":
            return self.reply(200, raw=b"ok\n", ctype="text/plain")
        if host.startswith("search.") and path == "/v2/search":
            time.sleep(0.6)
            return self.reply(200, {"query": q, "took_ms": 600, "hits": [{"id": i, "score": 1 / (i + 1)} for i in range(5)]})
        if path == "/v1/catalog":
            items = [{"sku": f"SKU-{i:05}", "name": f"Item {i}", "price": round(3.5 * i, 2)} for i in range(40)]
            return self.reply(200, raw=gzip.compress(json.dumps({"items": items}).encode()), extra=[("Content-Encoding", "gzip")])
        if parts[:2] == ["v1", "users"] and len(parts) == 3:
            uid = int(parts[2])
            if uid > 900:
                return self.reply(404, {"error": "user not found", "id": uid})
            return self.reply(200, {"id": uid, "name": f"user{uid}", "email": f"user{uid}@shop.test", "roles": ["customer"], "active": True})
        if parts[:2] == ["v1", "users"]:
            return self.reply(200, {"page": 1, "users": [{"id": i, "name": f"user{i}"} for i in range(1, 11)]})
        if parts[:2] == ["v1", "orders"] and len(parts) == 3:
            return self.reply(200, {"id": parts[2], "status": "shipped", "lines": [{"sku": "SKU-00003", "qty": 2}]})
        if parts[:2] == ["v1", "reports"]:
            time.sleep(1.2)
            return self.reply(503, {"error": "report backend unavailable", "retry_after": 30}, extra=[("Retry-After", "30")])
        if path == "/static/logo.png":
            return self.reply(200, raw=PNG, ctype="image/png")
        return self.reply(404, {"error": "no route", "path": path})

    def do_POST(self):
        host = self.headers.get("Host", "").split(":")[0]
        data = self.body()
        if host.startswith("auth.") and self.path == "/oauth/token":
            return self.reply(200, {"access_token": "eyJhbGciOiJIUzI1NiJ9.demo.sig", "token_type": "Bearer", "expires_in": 3600})
        if self.path == "/v1/orders":
            order = json.loads(data or b"{}")
            order["id"] = str(uuid.UUID(int=random.getrandbits(128)))
            return self.reply(201, order, extra=[("Location", f"/v1/orders/{order['id']}")])
        if host.startswith("payments.") and self.path == "/v1/charges":
            req = json.loads(data or b"{}")
            if req.get("amount", 0) > 10000:
                return self.reply(402, {"error": {"code": "card_declined", "message": "Your card was declined."}})
            return self.reply(200, {"id": "ch_" + uuid.UUID(int=random.getrandbits(128)).hex[:24], "amount": req.get("amount"), "paid": True})
        return self.reply(404, {"error": "no route"})

    def do_PUT(self):
        self.body()
        return self.reply(204)

    def do_DELETE(self):
        return self.reply(204)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("PORT", srv.server_address[1], flush=True)
srv.serve_forever()
