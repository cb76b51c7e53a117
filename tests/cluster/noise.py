#!/usr/bin/env python3
"""Throws garbage at live agents, for test_noise.sh.

For --duration seconds, at about --rate actions a second, it picks one of
the given addresses and sends it something hostile:

  UDP (gossip datagrams): random bytes of any size up to 64 KiB, empty
    datagrams, bytes that start like a sealed packet (0x81, a nonce, a
    ciphertext no key opens), too short to be sealed, or like a plain
    packet (wire version 1, msgpack-ish);
  TCP (the gossip stream port and the RPC port): random bytes, frame
    headers claiming huge sizes, half a header, well-framed random bodies,
    frames cut short, several frames back to back, mutated copies of
    plausible frames (a sealed-looking state; an RPC `info` request), and
    connections held open with half a frame (at most --max-open at once,
    the oldest closed first). After some of the whole frames sent to a
    gossip port it waits 50 ms for a reply and counts the bytes: a listener
    must answer nothing to a state it could not open (stream_reply_bytes).

Only loopback addresses are accepted, every socket has a short timeout,
every loop ends by the deadline, and every socket is closed before exit.
The seed is printed so that a run can be replayed. Prints one summary line.
"""
import argparse
import ipaddress
import random
import socket
import struct
import sys
import time


def loopback(hostport):
    host, port = hostport.rsplit(":", 1)
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"noise.py: {host} is not a loopback address")
    return host, int(port)


def rand_bytes(rng, n):
    return rng.randbytes(n)


def frame(body, claim=None):
    return struct.pack(">I", len(body) if claim is None else claim) + body


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            del b[rng.randrange(len(b)) :]
        elif op == 2:
            at = rng.randrange(len(b) + 1)
            b[at:at] = rand_bytes(rng, rng.randint(1, 16))
        elif b:
            b[rng.randrange(len(b))] = rng.choice([0x00, 0x7F, 0x80, 0xC1, 0xDD, 0xDF, 0xFF])
    return bytes(b)


def rpc_request(seq):
    # msgpack {"command": "info", "seq": seq}: what `starling info` sends.
    return b"\x82\xa7command\xa4info\xa3seq" + bytes([seq & 0x7F])


def datagram(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return rand_bytes(rng, rng.randint(1, 1400))
    if kind == 1:
        return b""
    if kind == 2:  # looks sealed; no key opens it
        return b"\x81" + rand_bytes(rng, rng.randint(41, 1400))
    if kind == 3:  # too short to be sealed
        return b"\x81" + rand_bytes(rng, rng.randint(0, 39))
    if kind == 4:  # plain, wire version 1, the start of a packet
        return b"\x01\x92\xa0" + rand_bytes(rng, rng.randint(0, 600))
    return rand_bytes(rng, rng.randint(1401, 65000))


def stream_payload(rng, rpc, seq):
    """Returns (bytes, hold, whole): what to send on a fresh connection, whether
    to hold it open, and whether it ends with a whole frame."""
    kind = rng.randrange(9)
    if kind == 0:
        return rand_bytes(rng, rng.randint(1, 2048)), False, False
    if kind == 1:  # a header claiming far more than any bound
        claim = rng.choice([0xFFFFFFFF, 0x80000000, (64 << 20) + 42, 0x7FFFFFFF, 1 << 30])
        return frame(rand_bytes(rng, rng.randint(0, 512)), claim), False, False
    if kind == 2:  # half a header
        return struct.pack(">I", rng.randint(1, 1 << 20))[: rng.randint(1, 3)], False, False
    if kind == 3:  # a well-framed random body
        return frame(rand_bytes(rng, rng.randint(0, 4096))), False, True
    if kind == 4:  # a frame cut short
        body = rand_bytes(rng, rng.randint(2, 4096))
        return frame(body)[: rng.randint(4, len(body) + 3)], False, False
    if kind == 5:  # several frames back to back
        return b"".join(frame(rand_bytes(rng, rng.randint(0, 300))) for _ in range(5)), False, True
    if kind == 6:  # a mutated plausible frame
        if rpc:
            body = mutate(rng, rpc_request(seq))
        else:
            body = mutate(rng, b"\x81" + rand_bytes(rng, 24 + rng.randint(16, 1500)))
        return frame(body), False, True
    if kind == 7 and rpc:  # a plausible request, well formed: it gets an answer
        return frame(rpc_request(seq)), False, True
    # held open with half a frame
    return frame(rand_bytes(rng, 64), claim=4096)[: rng.randint(1, 40)], True, False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=800.0, help="actions per second, at most")
    ap.add_argument("--source", required=True, help="loopback address to send from")
    ap.add_argument("--udp", action="append", default=[], help="HOST:PORT, repeatable")
    ap.add_argument("--stream", action="append", default=[], help="gossip TCP HOST:PORT")
    ap.add_argument("--rpc", action="append", default=[], help="RPC TCP HOST:PORT")
    ap.add_argument("--max-open", type=int, default=48)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    src, _ = loopback(args.source + ":0")
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    udp = [loopback(a) for a in args.udp]
    tcp = [(loopback(a), False) for a in args.stream] + [(loopback(a), True) for a in args.rpc]
    if not udp and not tcp:
        raise SystemExit("noise.py: nothing to send to")

    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.bind((src, 0))
    held = []
    stats = dict(datagrams=0, udp_bytes=0, connections=0, refused=0, tcp_bytes=0, held=0,
                 stream_waits=0, stream_replies=0)
    deadline = time.monotonic() + args.duration
    period = 1.0 / args.rate
    next_at = time.monotonic()
    seq = 0
    try:
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now < next_at:
                time.sleep(min(next_at - now, 0.01))  # pacing, not synchronisation
                continue
            next_at += period
            seq += 1
            if udp and (not tcp or rng.random() < 0.6):
                d = datagram(rng)
                try:
                    us.sendto(d, rng.choice(udp))
                    stats["datagrams"] += 1
                    stats["udp_bytes"] += len(d)
                except OSError:
                    pass
                continue
            (addr, rpc) = rng.choice(tcp)
            payload, hold, whole = stream_payload(rng, rpc, seq)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(0.5)
            try:
                s.bind((src, 0))
                s.connect(addr)
                stats["connections"] += 1
                if payload:
                    s.sendall(payload)
                    stats["tcp_bytes"] += len(payload)
            except OSError:
                stats["refused"] += 1
                s.close()
                continue
            if whole and not rpc and rng.random() < 0.2:
                # A whole frame at the gossip port that no key opens must get
                # nothing back: the listener replies only to a state it merged.
                s.settimeout(0.05)
                try:
                    got = s.recv(65536)
                    stats["stream_replies"] += len(got)
                except OSError:
                    pass
                stats["stream_waits"] += 1
            if hold:
                held.append(s)
                stats["held"] += 1
                while len(held) > args.max_open:
                    held.pop(0).close()
            else:
                s.close()
    finally:
        for s in held:
            s.close()
        us.close()
    print(
        "noise: seed %d, %.0f s: %d datagrams (%d bytes), %d connections (%d bytes, %d held "
        "open a while), %d refused or reset; stream_reply_bytes=%d after %d whole frames"
        % (seed, args.duration, stats["datagrams"], stats["udp_bytes"], stats["connections"],
           stats["tcp_bytes"], stats["held"], stats["refused"], stats["stream_replies"],
           stats["stream_waits"])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
