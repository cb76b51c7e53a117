#!/usr/bin/env python3
"""Watches a rollout through `starling where NAME --json`, every 100 ms.

usage: rollout_watch.py STARLING RPC NAME REPLICAS OLD_VERSION SECONDS [--kill PID]

Samples until every slot 0..REPLICAS-1 runs a version other than
OLD_VERSION (running) and no replica of a higher index (a surge replica) is
left, or until SECONDS pass. With --kill PID, sends SIGKILL to PID once the
first slot runs the new version (the peer that started the rollout dies in
the middle), and from then on samples through the other RPC addresses given
with --rpc-after. Prints one line:

    done=0|1 min_running=N samples=N elapsed=S killed=0|1

min_running is the fewest replicas that answered at once, counted from the
first sample: every address `where` ever listed for the service (each
replica's host:port) is asked GET /healthz in every sample, and one that
answers 200 counts (the test service in HTTP mode answers so while its
check would pass). That is what clients see, not what the reports say
(they lag by the gossip's delay). Exit status 0 when done.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import time


def sample(starling, rpc, name):
    out = subprocess.run([starling, "where", name, "--json", "--rpc", rpc],
                         capture_output=True, text=True, timeout=5)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout)


def answers(addr):
    host, _, port = addr.rpartition(":")
    try:
        c = http.client.HTTPConnection(host, int(port), timeout=0.2)
        c.request("GET", "/healthz")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except (OSError, http.client.HTTPException, ValueError):
        return False


def main():
    args = sys.argv[1:]
    kill_pid, rpc_after = None, None
    if "--kill" in args:
        i = args.index("--kill")
        kill_pid = int(args[i + 1])
        del args[i:i + 2]
    if "--rpc-after" in args:
        i = args.index("--rpc-after")
        rpc_after = args[i + 1]
        del args[i:i + 2]
    starling, rpc, name, replicas, old, seconds = args
    replicas, seconds = int(replicas), float(seconds)
    start = time.monotonic()
    min_running, samples, done, killed = None, 0, False, False
    addrs = set()
    while time.monotonic() - start < seconds:
        t = time.monotonic()
        try:
            reps = sample(starling, rpc, name)
        except (subprocess.TimeoutExpired, ValueError):
            reps = None
        if reps is not None:
            samples += 1
            running = [r for r in reps if r.get("status") == "running"]
            addrs |= {r["addr"] for r in reps if r.get("addr")}
            n = sum(1 for a in addrs if answers(a))
            min_running = n if min_running is None else min(min_running, n)
            new_slots = {r["replica"] for r in running
                         if r["replica"] < replicas and r.get("version") not in (old, None, "")}
            surge = [r for r in reps if r["replica"] >= replicas]
            if kill_pid and not killed and new_slots:
                os.kill(kill_pid, signal.SIGKILL)
                killed = True
                if rpc_after:
                    rpc = rpc_after
            if len(new_slots) == replicas and not surge:
                done = True
                break
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))
    print("done=%d min_running=%s samples=%d elapsed=%.1f killed=%d" %
          (done, min_running, samples, time.monotonic() - start, killed))
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
