#!/usr/bin/env python3
"""The lowest number of a service's replicas running over a time window, as
the agents' own logs tell it: exact, where sampling `ps` every 0.2 s could
miss a dip between two samples.

    running_low.py SERVICE FROM_MS TO_MS LOG...

Each agent logs every status change of its replicas with a millisecond
timestamp ("replica web/1 running on port 20001", "... stopping ...",
"... failed ...", "replica web/1 stopped"), and a new life with "starting:
gossip on". A replica counts as running from its "running" line to its next
status line of any other kind, or to the end of that agent's life. Pass the
logs of the agents alive over the window only: one killed with SIGKILL
writes no last line. Lines before FROM_MS give the state at FROM_MS. At one
millisecond, starts are counted before ends (the logs cannot order two
processes' lines within it). Prints "LOW AT_MS", the first time the low
was reached (FROM_MS if it held from the start)."""
import re
import sys
from datetime import datetime, timezone

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z \[\w+\] (.*)$")
# Only these lines change a replica's status; others about it ("now belongs
# to", "did not report it running") leave it as it is.
STATUS = re.compile(r"^replica ([^/ ]+)/(\d+) (starting|running|stopping|failed|stopped)\b")


def ms_of(stamp):
    t = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1000 + 0.5)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    service, t_from, t_to = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    events = []  # (ms, order, agent, replica, running?) ; order 0 = start first
    for agent, path in enumerate(sys.argv[4:]):
        with open(path, errors="replace") as f:
            for line in f:
                m = LINE.match(line.rstrip("\n"))
                if not m:
                    continue
                t, text = ms_of(m.group(1)), m.group(2)
                if "starting: gossip on" in text:
                    events.append((t, 1, agent, None, False))  # a new life: none runs
                    continue
                s = STATUS.match(text)
                if s and s.group(1) == service:
                    up = s.group(3) == "running"
                    events.append((t, 0 if up else 1, agent, int(s.group(2)), up))
    events.sort(key=lambda e: (e[0], e[1]))
    running = set()
    low, at = None, t_from
    for t, _, agent, replica, up in events:
        if t > t_to:
            break
        if t >= t_from and low is None:
            low, at = len(running), t_from
        if replica is None:
            running = {r for r in running if r[0] != agent}
        elif up:
            running.add((agent, replica))
        else:
            running.discard((agent, replica))
        if t >= t_from and len(running) < low:
            low, at = len(running), t
    if low is None:  # nothing happened within the window
        low = len(running)
    print(low, at)


main()
