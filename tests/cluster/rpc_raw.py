#!/usr/bin/env python3
"""Raw clients of an agent's RPC port for tests/cluster/test_rpc_auth.sh.

Each mode prints "PASS: ..." / "FAIL: ..." lines (the harness counts them)
and exits 0 when every check passed. Every wait has a deadline; every socket
and child process is closed before exit. Loopback addresses only.

  rpc_raw.py silent HOST PORT N AUTH_TIMEOUT_S STARLING
      holds N silent connections, runs `STARLING info --json` meanwhile, and
      checks that the CLI got in, that the extra connections were closed at
      once, and that the others were closed after the auth timeout.
  rpc_raw.py garbage HOST PORT
      garbage, oversized frame headers and bad handshakes: each must get the
      refusal frame or a closed connection, never a hang.
  rpc_raw.py proxy HOST PORT MODE STARLING CMD...
      runs `STARLING CMD... --rpc PROXY` through a proxy that replays
      (MODE=replay) or flips one byte of (MODE=tamper) the client's first
      sealed frame, and prints the CLI's exit status and stderr.
"""
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time

MAGIC = b"SLRPC1"
REFUSAL = b"SLRPC1!"


def ok(what, cond):
    print(("PASS: " if cond else "FAIL: ") + what, flush=True)
    return cond


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def read_exact(s, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        s.settimeout(left)
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_frame(s, deadline):
    (n,) = struct.unpack(">I", read_exact(s, 4, deadline))
    return read_exact(s, n, deadline)


def closed_by_peer(s, deadline):
    """Waits until the peer closes s: True, or False at the deadline."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([s], [], [], left)
        if r:
            try:
                if not s.recv(4096):
                    return True
            except OSError:
                return True


def connect(host, port):
    return socket.create_connection((host, port), timeout=5)


def mode_silent(host, port, n, auth_s, starling):
    t0 = time.monotonic()
    socks = [connect(host, port) for _ in range(n)]
    opened = time.monotonic()
    for s in socks:
        s.setblocking(False)
    env = dict(os.environ)
    cli = subprocess.run([starling, "info", "--rpc", "%s:%d" % (host, port), "--json"],
                         env=env, capture_output=True, text=True, timeout=30)
    cli_done = time.monotonic()
    unauth = -1
    if cli.returncode == 0:
        import json
        unauth = json.loads(cli.stdout)["rpc_clients"]["unauthenticated"]
    ok("the CLI gets in while %d silent connections are held (exit %d%s, %.2f s after them)"
       % (n, cli.returncode, ", " + cli.stderr.strip() if cli.stderr else "", cli_done - opened),
       cli.returncode == 0)
    # 16 at most wait unauthenticated; the CLI's connection made room for
    # itself by closing the oldest. Silent ones were still there if the CLI
    # ran before the auth timeout.
    if cli_done - opened < auth_s * 0.8:
        ok("info counts the silent connections still waiting (%d, at most 16)" % unauth,
           1 <= unauth <= 16)
    closed_at = [None] * n
    deadline = time.monotonic() + auth_s * 3 + 5
    pending = set(range(n))
    while pending and time.monotonic() < deadline:
        r, _, _ = select.select([socks[i] for i in pending], [], [],
                                max(0.0, deadline - time.monotonic()))
        now = time.monotonic()
        for s in r:
            i = socks.index(s)
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed_at[i] = now - t0
                pending.discard(i)
    for s in socks:
        s.close()
    ok("every one of the %d silent connections is closed (%d left open)" % (n, len(pending)),
       not pending)
    times = sorted(t for t in closed_at if t is not None)
    early = [t for t in times if t < auth_s * 0.9]
    late = [t for t in times if t >= auth_s * 0.9]
    # n - 16 closed at once when they came, and one more to make room for the CLI.
    ok("the connections beyond 16 are closed at once (%d early: %s)"
       % (len(early), ", ".join("%.2f" % t for t in early)),
       n - 16 <= len(early) <= n - 16 + 1)
    ok("the others are closed after the auth timeout of %g s, not before (%s)"
       % (auth_s, ", ".join("%.2f" % t for t in late[:3]) + (" ..." if len(late) > 3 else "")),
       len(late) >= 15 and all(t < auth_s * 3 + 5 for t in late))
    return True


def expect_refusal(what, s, reason_part, deadline):
    try:
        f = read_frame(s, deadline)
    except (EOFError, TimeoutError, OSError) as e:
        return ok("%s: refused (got %s instead)" % (what, type(e).__name__), False)
    good = f.startswith(REFUSAL) and reason_part.encode() in f
    ok("%s: one refusal frame (%r)" % (what, f[:60]), good)
    ok("%s: then the connection is closed" % what, closed_by_peer(s, deadline))


def hello_exchange(s, deadline):
    s.sendall(frame(MAGIC + os.urandom(32)))
    h = read_frame(s, deadline)
    return len(h) == 38 and h.startswith(MAGIC)


def mode_garbage(host, port):
    dl = lambda: time.monotonic() + 10
    # Bytes that are no frame, or a frame that is no hello.
    s = connect(host, port)
    s.sendall(frame(b"\xdd\x04\x00\x00\x00"))
    expect_refusal("a msgpack trap instead of a hello", s, "SLRPC1 handshake", dl())
    s.close()
    s = connect(host, port)
    s.sendall(b"\xff\xff\xff\xff\x01\x02")
    expect_refusal("a 4 GiB frame header instead of a hello", s, "SLRPC1 handshake", dl())
    s.close()
    s = connect(host, port)
    s.sendall(frame(MAGIC + os.urandom(31)))
    expect_refusal("a hello one byte short", s, "SLRPC1 handshake", dl())
    s.close()
    # A good hello, then garbage where the first sealed request is due.
    s = connect(host, port)
    ok("a raw client's hello is answered with the agent's hello", hello_exchange(s, dl()))
    s.sendall(frame(os.urandom(100)))
    expect_refusal("random bytes as the first sealed frame", s, "wrong or missing RPC token", dl())
    s.close()
    s = connect(host, port)
    hello_exchange(s, dl())
    s.sendall(b"\xff\xff\xff\xff")
    expect_refusal("a 4 GiB frame header after the hello", s, "too large", dl())
    s.close()
    s = connect(host, port)
    hello_exchange(s, dl())
    s.sendall(frame(b""))
    expect_refusal("an empty first sealed frame", s, "wrong or missing RPC token", dl())
    s.close()
    # A burst of garbage connections: each answered, none hangs.
    bad = 0
    for i in range(40):
        s = connect(host, port)
        s.sendall(os.urandom(7 + i))
        try:
            f = read_frame(s, dl())
            bad += not f.startswith(REFUSAL)
        except (EOFError, TimeoutError, OSError):
            pass  # a random header may claim more than was sent: closed at the timeout
        s.close()
    ok("40 connections of random bytes get refusals, never anything else", bad == 0)
    return True


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (dst,):
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def mode_proxy(host, port, mode, starling, cmd):
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind((host, 0))  # the agent's own loopback address, a free port
    lst.listen(1)
    lst.settimeout(10)
    paddr = "%s:%d" % lst.getsockname()
    cli = subprocess.Popen([starling] + cmd + ["--rpc", paddr], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        c, _ = lst.accept()
        up = connect(host, port)
        t = threading.Thread(target=pump, args=(up, c), daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        c.settimeout(10)
        hello = read_frame(c, deadline)
        up.sendall(frame(hello))
        first = read_frame(c, deadline)
        if mode == "tamper":
            b = bytearray(first)
            b[len(b) // 2] ^= 0x01
            up.sendall(frame(bytes(b)))
        else:
            up.sendall(frame(first) + frame(first))
        pump(c, up)
        out, err = cli.communicate(timeout=30)
        t.join(10)
        print("cli exit %d" % cli.returncode)
        print("cli stderr: " + err.strip().replace("\n", " | "))
        c.close()
        up.close()
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        lst.close()
    return True


def main():
    m = sys.argv[1]
    host, port = sys.argv[2], int(sys.argv[3])
    if m == "silent":
        mode_silent(host, port, int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
    elif m == "garbage":
        mode_garbage(host, port)
    elif m == "proxy":
        mode_proxy(host, port, sys.argv[4], sys.argv[5], sys.argv[6:])
    else:
        print("FAIL: rpc_raw.py: unknown mode " + m)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
