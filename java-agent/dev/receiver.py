#!/usr/bin/env python3
"""DEVELOPMENT TOOL, not part of apitop: a stand-in for apitop's end of the Java hand-off.

Listens on a Unix socket, accepts agents, and prints every frame of protocol v1 (see
java-agent/README.md) as one line: HELLO, CONN, DATA (direction, length, a preview of the
plaintext), CLOSE, DROPPED. Checks the framing strictly and exits non-zero on a bad frame.

  python3 java-agent/dev/receiver.py /tmp/apitop-java.sock [--max-preview N] [--quiet]

--stall S waits S seconds before reading each agent (fills the agent's queue: DROPPED).
--quiet prints only HELLO/CONN/CLOSE/DROPPED and a per-connection byte total on exit (SIGINT/
SIGTERM), for load measurements where printing every DATA would cost more than the agent.
"""
import os
import signal
import socket
import struct
import sys
import threading
import time

KINDS = {1: "HELLO", 2: "CONN", 3: "DATA", 4: "CLOSE", 5: "DROPPED"}


class Bad(Exception):
    pass


def read_exact(conn, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            if buf:
                raise Bad(f"EOF inside a frame ({len(buf)}/{n} bytes)")
            return None
        buf += chunk
    return bytes(buf)


def string(body, at):
    (n,) = struct.unpack_from("<H", body, at)
    s = body[at + 2 : at + 2 + n]
    if len(s) != n:
        raise Bad("string past the end of its frame")
    return s.decode("utf-8"), at + 2 + n


def serve(conn, n_client, args, totals, lock):
    out = sys.stdout
    first = True
    while True:
        head = read_exact(conn, 4)
        if head is None:
            print(f"[{n_client}] EOF", file=out, flush=True)
            return
        (blen,) = struct.unpack("<I", head)
        if blen < 1 or blen > 65600:
            raise Bad(f"body_len {blen} out of range")
        body = read_exact(conn, blen)
        if body is None:
            raise Bad("EOF after a frame header")
        kind, body = body[0], body[1:]
        name = KINDS.get(kind)
        if name is None:
            raise Bad(f"unknown kind {kind}")
        if first and kind != 1:
            raise Bad("first frame is not HELLO")
        first = False
        if kind == 1:
            ver, pid = struct.unpack_from("<II", body, 0)
            jv, at = string(body, 8)
            vm, at = string(body, at)
            tok, at = string(body, at)
            line = f"HELLO v{ver} pid={pid} java={jv!r} vm={vm!r} token={tok!r}"
        elif kind == 2:
            cid, role, path = struct.unpack_from("<QBB", body, 0)
            local, at = string(body, 10)
            peer, at = string(body, at)
            role_s = {0: "unknown", 1: "client", 2: "server"}.get(role, f"?{role}")
            path_s = {1: "socket", 2: "engine"}.get(path, f"?{path}")
            line = f"CONN id={cid} role={role_s} path={path_s} local={local!r} peer={peer!r}"
        elif kind == 3:
            cid, ts, d, n = struct.unpack_from("<QQBI", body, 0)
            data = body[21 : 21 + n]
            if len(data) != n or 21 + n != len(body) or n > 65536:
                raise Bad(f"DATA len {n} does not match its frame ({len(body)})")
            with lock:
                key = (n_client, cid, d)
                totals[key] = totals.get(key, 0) + n
            if args["quiet"]:
                continue
            arrow = "->" if d == 0 else "<-"
            prev = data[: args["preview"]].decode("latin-1")
            prev = prev.replace("\r", "\\r").replace("\n", "\\n")
            line = f"DATA id={cid} {arrow} {n}B ts={ts} {prev!r}"
        elif kind == 4:
            (cid,) = struct.unpack_from("<Q", body, 0)
            line = f"CLOSE id={cid}"
        else:
            (n,) = struct.unpack_from("<Q", body, 0)
            line = f"DROPPED {n}B"
        print(f"[{n_client}] {line}", file=out, flush=True)


def main():
    argv = sys.argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    path = argv[0]
    args = {"preview": 120, "quiet": "--quiet" in argv, "stall": 0.0}
    if "--stall" in argv:
        args["stall"] = float(argv[argv.index("--stall") + 1])
    if "--max-preview" in argv:
        args["preview"] = int(argv[argv.index("--max-preview") + 1])
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    totals, lock = {}, threading.Lock()
    failed = []

    def report(*_):
        with lock:
            for (c, cid, d), n in sorted(totals.items()):
                print(f"[{c}] TOTAL id={cid} {'->' if d == 0 else '<-'} {n}B", flush=True)
        os._exit(1 if failed else 0)

    signal.signal(signal.SIGTERM, report)
    signal.signal(signal.SIGINT, report)
    print(f"listening on {path}", flush=True)
    n = 0
    while True:
        conn, _ = srv.accept()
        n += 1
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, gid = struct.unpack("3i", creds)
        print(f"[{n}] accepted peer pid={pid} uid={uid}", flush=True)

        def run(conn=conn, n=n):
            try:
                if args["stall"]:
                    time.sleep(args["stall"])
                serve(conn, n, args, totals, lock)
            except Bad as e:
                failed.append(e)
                print(f"[{n}] BAD FRAME: {e}", flush=True)
            finally:
                conn.close()

        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    main()
