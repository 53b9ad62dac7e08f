"""gRPC test client for apitop's end-to-end tests: TARGET CA_CERT [CALLS...].

Calls (default: unary stream fail): unary = SayHello(name="apitop", times=3),
stream = Count(n=3), fail = Fail; pause = wait half a second (for apitop to probe a TLS library
the import just loaded). Writes results to stderr only: stdout is apitop's JSON.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from grpc_proto import f_bytes, f_varint, parse  # noqa: E402


def main():
    target, ca = sys.argv[1], sys.argv[2]
    calls = sys.argv[3:] or ["unary", "stream", "fail"]
    with open(ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    with grpc.secure_channel(target, creds) as ch:
        for call in calls:
            if call == "pause":
                time.sleep(0.5)
            elif call == "unary":
                m = ch.unary_unary("/demo.Greeter/SayHello")
                r = m(f_bytes(1, "apitop") + f_varint(2, 3), timeout=10)
                print("unary:", parse(r), file=sys.stderr)
            elif call == "stream":
                m = ch.unary_stream("/demo.Greeter/Count")
                for r in m(f_varint(1, 3), timeout=10):
                    print("stream:", parse(r), file=sys.stderr)
            elif call == "fail":
                m = ch.unary_unary("/demo.Greeter/Fail")
                try:
                    m(f_bytes(1, "nobody"), timeout=10)
                except grpc.RpcError as e:
                    print("fail:", e.code(), e.details(), file=sys.stderr)


if __name__ == "__main__":
    main()
