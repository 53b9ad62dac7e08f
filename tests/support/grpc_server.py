"""gRPC test service `demo.Greeter` for apitop's end-to-end tests (Debian's python3-grpcio).

Usage: grpc_server.py [CERT KEY]   TLS with CERT/KEY, else cleartext. Prints "PORT n".
  SayHello(name=1 string, times=2 varint) -> (message=1 string, meta=2 {code=1, tag=2})
  Count(n=1 varint)                       -> stream of (index=1 varint, label=2 string)
  Fail(...)                               -> NOT_FOUND "no such greeting"
"""
import os
import sys
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from grpc_proto import f_bytes, f_varint, parse  # noqa: E402


def say_hello(req, ctx):
    f = parse(req)
    name = f.get(1, [b"?"])[0].decode()
    times = f.get(2, [1])[0]
    return f_bytes(1, "hello " + name) + f_bytes(2, f_varint(1, 42 * times) + f_bytes(2, "x"))


def count(req, ctx):
    n = parse(req).get(1, [0])[0]
    for i in range(1, n + 1):
        yield f_varint(1, i) + f_bytes(2, "item %d" % i)


def fail(req, ctx):
    ctx.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")


def main():
    handlers = {
        "SayHello": grpc.unary_unary_rpc_method_handler(say_hello),
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("demo.Greeter", handlers),))
    if len(sys.argv) == 3:
        with open(sys.argv[1], "rb") as c, open(sys.argv[2], "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("PORT %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
