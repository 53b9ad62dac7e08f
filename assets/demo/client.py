"""Demo API client for assets/sample.apitop: a shop backend talking to several services."""
import http.client, json, random, ssl, sys, time

port = int(sys.argv[1])
random.seed(11)
ctx = ssl._create_unverified_context()
conns = {}


def call(host, method, path, body=None, headers=None):
    c = conns.get(host)
    if c is None:
        c = conns[host] = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    h = {"Host": host, "User-Agent": "shop-backend/2.4 (python)", "Accept": "application/json"}
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if host.startswith("api.") or host.startswith("payments."):
        h["Authorization"] = "Bearer eyJhbGciOiJIUzI1NiJ9.demo.sig"
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    r.read()


call("auth.shop.test", "POST", "/oauth/token", {"grant_type": "client_credentials", "client_id": "shop-backend"})
for i in range(60):
    uid = random.choice([1, 2, 3, 7, 42, 99, 314, 907, 1234])
    call("api.shop.test", "GET", f"/v1/users/{uid}")
    if i % 5 == 0:
        call("api.shop.test", "GET", "/v1/users?page=1")
    if i % 7 == 0:
        call("api.shop.test", "POST", "/v1/orders", {"customer": uid, "lines": [{"sku": "SKU-00003", "qty": 2}]})
        call("payments.example.test", "POST", "/v1/charges", {"amount": random.choice([1999, 4500, 25000]), "currency": "eur"})
    if i % 9 == 0:
        call("api.shop.test", "GET", "/v1/orders/3f2c1a7e-9b4d-4e8a-8c1f-2d5e6f708192")
        call("search.internal.test", "GET", "/v2/search?q=red+shoes&limit=5")
    if i % 13 == 0:
        call("api.shop.test", "GET", "/v1/catalog", headers={"Accept-Encoding": "gzip"})
        call("api.shop.test", "PUT", f"/v1/users/{uid}/avatar", body=bytes(range(256)) * 4, headers={"Content-Type": "image/png"})
    if i % 20 == 0:
        call("reports.internal.test", "GET", "/v1/reports/2026-11")
        call("cdn.shop.test", "GET", "/static/logo.png")
    call("api.shop.test", "GET", "/health")
    time.sleep(0.02)
