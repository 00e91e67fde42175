#!/usr/bin/env python3
"""Client side of tests/bench/cluster_chaos.sh: load, observers and report.

Python 3 standard library only. It runs in the hub network namespace the
script makes, so it reaches every node's HTTP port and every upstream.

  setup  waits until every node sees every node alive, registers the echo
         upstreams as service `echo` (ids echo-eK, checked on /health) and
         waits until every node sees them passing
  run    from --t0 (epoch seconds) for --duration s: writer threads
         (register, deregister, heartbeat their own instances), proxy
         threads (GET /proxy/echo/chaos/N), and observers (each node's SSE
         stream and member list, each echo's /control); then waits for the
         script's fault schedule to end (--faults FILE, FILE.done), polls
         every node until all see all alive with equal catalogs, and prints
         the report (a table, then one JSON line)
  suspects  the ids lost or come back in a run's details.json, one a line

Every request goes on a fresh connection (Connection: close) with a 2 s
timeout, so that a hung or killed node costs one timeout and nothing else.
Times are wall-clock epoch seconds (time.time()), shared with the script.
"""

import argparse
import hashlib
import http.client
import json
import random
import signal
import socket
import sys
import threading
import time
import urllib.parse

TIMEOUT = 2.0
stop_load = threading.Event()
stop_watch = threading.Event()


def log(msg):
    print(f"[cluster_chaos.py] {msg}", file=sys.stderr, flush=True)


def parse_named(s):
    """'n1=10.99.0.1:8700,n2=...' -> {'n1': ('10.99.0.1', 8700), ...}"""
    out = {}
    for item in s.split(","):
        name, _, addr = item.partition("=")
        host, _, port = addr.rpartition(":")
        out[name] = (host, int(port))
    return out


def request(addr, method, path, body=None, timeout=TIMEOUT):
    """One request on a fresh connection. Returns (status or None, body,
    sent, error): sent is False only when the connection was never made, so
    the node cannot have seen the request."""
    c = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
    sent = False
    try:
        c.connect()
        sent = True
        headers = {"Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.read(), True, None
    except (OSError, http.client.HTTPException) as e:
        return None, b"", sent, type(e).__name__
    finally:
        c.close()


def get_json(addr, path, timeout=TIMEOUT):
    status, body, _, _ = request(addr, "GET", path, timeout=timeout)
    if status != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def members_of(addr, timeout=1.0):
    j = get_json(addr, "/api/cluster/members", timeout)
    if not j:
        return None
    return {m.get("name"): m.get("status") for m in j.get("members", [])}


def catalog_of(addr):
    """{service/id: (revision, status, origin)} of every instance, or None
    when the node did not answer completely."""
    j = get_json(addr, "/api/services")
    if j is None:
        return None
    out = {}
    for s in j.get("services", []):
        name = s.get("name", "")
        status, body, _, _ = request(addr, "GET", "/api/services/" + urllib.parse.quote(name, safe=""))
        if status == 404:
            continue
        if status != 200:
            return None
        for x in json.loads(body).get("instances", []):
            rev = x.get("revision")
            out[f"{name}/{x.get('id')}"] = (rev if isinstance(rev, (int, str)) else json.dumps(rev),
                                            x.get("status"), x.get("origin"))
    return out


def fingerprint(cat):
    lines = sorted(f"{k}@{v[0]}" for k, v in cat.items())
    return {"count": len(lines), "sha": hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]}


def echo_instance(name, addr):
    return {"name": "echo", "id": f"echo-{name}", "host": addr[0], "port": addr[1]}


# -- setup ----------------------------------------------------------------------

def cmd_setup(a):
    nodes, echoes = parse_named(a.nodes), parse_named(a.echoes)
    t0 = time.time()
    deadline = t0 + a.timeout
    views = {}
    while time.time() < deadline:
        views = {n: members_of(addr) for n, addr in nodes.items()}
        if all(v is not None and all(v.get(m) == "alive" for m in nodes) for v in views.values()):
            break
        time.sleep(0.2)
    else:
        print(json.dumps({"formed": False, "views": views}))
        return 1
    formed = time.time() - t0
    first = next(iter(nodes.values()))
    for name, addr in echoes.items():
        body = json.dumps(echo_instance(name, addr)).encode()
        while True:
            status, text, _, err = request(first, "POST", "/api/services", body)
            if status in (200, 201):
                break
            if time.time() > deadline:
                print(json.dumps({"formed": True, "register": f"echo-{name}: {status or err} {text[:200]!r}"}))
                return 1
            time.sleep(0.2)
    want = {f"echo/echo-{n}" for n in echoes}
    while time.time() < deadline:
        cats = {n: catalog_of(addr) for n, addr in nodes.items()}
        if all(c is not None and all(c.get(i, (0, None))[1] == "passing" for i in want)
               for c in cats.values()):
            print(json.dumps({"formed": True, "formed_seconds": round(formed, 3),
                              "passing_seconds": round(time.time() - t0, 3)}))
            return 0
        time.sleep(0.2)
    print(json.dumps({"formed": True, "passing": False,
                      "statuses": {n: {i: (c or {}).get(i) for i in want} for n, c in cats.items()}}))
    return 1


# -- load -------------------------------------------------------------------------

class Tried:
    """One operation tried on node after node: every attempt's node, answer
    and time; whether one was acknowledged; whether one went unanswered after
    it was sent (the node may still apply it later)."""

    def __init__(self):
        self.attempts, self.acked, self.ambiguous = [], None, False


def try_nodes(nodes, order, method, path, body, ok, retry_on_404, t0):
    t = Tried()
    for name in order:
        status, _, sent, err = request(nodes[name], method, path, body)
        t.attempts.append((name, status if status is not None else err, round(time.time() - t0, 3)))
        if status in ok:
            t.acked = name
            return t
        if status is None and sent:
            t.ambiguous = True
        if status is None or status >= 500 or (status == 404 and retry_on_404):
            continue
        break  # another 4xx: a wrong request, not a node's trouble
    return t


class Writer(threading.Thread):
    """Registers, deregisters and heartbeats its own instances (ids wK-N);
    one operation at a time, so its view of each id is exact."""

    def __init__(self, k, nodes, echoes, seed, t0, journal):
        super().__init__(daemon=True)
        self.k, self.nodes, self.t0, self.journal = k, nodes, t0, journal
        self.names = list(nodes)
        self.echo_addrs = list(echoes.values())
        self.rng = random.Random(seed * 100 + k)
        self.n = 0
        self.ids = {}  # id -> dict(service, state, ...)
        self.live = []  # acked, not deregistered: candidates for dereg and heartbeat
        self.counts = {}

    def count(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1

    def order(self):
        i = self.rng.randrange(len(self.names))
        return self.names[i:] + self.names[:i]

    def note(self, op, iid, t):
        self.journal.append({"t": round(time.time() - self.t0, 3), "writer": self.k, "op": op,
                             "id": iid, "acked": t.acked, "ambiguous": t.ambiguous,
                             "attempts": t.attempts})
        if len(t.attempts) > 1:
            self.count(op + "_retried")

    def register(self):
        self.n += 1
        iid = f"w{self.k}-{self.n:05d}"
        svc = f"chaos-{self.n % 3}"
        host, port = self.echo_addrs[self.n % len(self.echo_addrs)]
        body = json.dumps({"name": svc, "id": iid, "host": host, "port": port, "ttl": "20s",
                           "healthEndpoint": f"/check/{iid}"}).encode()
        t = try_nodes(self.nodes, self.order(), "POST", "/api/services", body, (200, 201), False, self.t0)
        self.note("register", iid, t)
        self.count("register")
        rec = {"service": svc, "ambiguous": t.ambiguous, "registered_on": t.acked,
               "registered_at": round(time.time() - self.t0, 3)}
        if t.acked:
            rec["state"] = "live"
            self.live.append(iid)
            self.count("register_acked")
        else:
            rec["state"] = "unsure"  # a 5xx or no answer: may or may not be kept
            self.count("register_failed")
        rec["hb"] = time.time()
        self.ids[iid] = rec

    def deregister(self):
        iid = self.live.pop(self.rng.randrange(len(self.live)))
        rec = self.ids[iid]
        t = try_nodes(self.nodes, self.order(), "DELETE", f"/api/services/{rec['service']}/{iid}",
                      None, (204,), True, self.t0)
        self.note("deregister", iid, t)
        self.count("deregister")
        # (An unanswered deregistration applied late cannot bring the
        # instance back, so only registrations and heartbeats mark it.)
        if t.acked:
            rec["state"] = "deregistered"
            rec["deregistered_on"] = t.acked
            rec["deregistered_at"] = round(time.time() - self.t0, 3)
            self.count("deregister_acked")
        elif all(x[1] == 404 for x in t.attempts):
            # Every node said it does not know an instance it acknowledged.
            rec.setdefault("not_found", []).append(t.attempts)
            self.count("deregister_404_everywhere")
            self.live.append(iid)
        elif t.ambiguous:
            rec["state"] = "unsure"  # the removal may still happen
            self.count("deregister_failed")
        else:
            self.live.append(iid)
            self.count("deregister_failed")

    def heartbeat(self):
        iid = min(self.live, key=lambda i: self.ids[i]["hb"])
        rec = self.ids[iid]
        t = try_nodes(self.nodes, self.order(), "PUT", f"/api/services/{rec['service']}/{iid}/heartbeat",
                      None, (200,), True, self.t0)
        self.note("heartbeat", iid, t)
        self.count("heartbeat")
        rec["hb"] = time.time()
        rec["ambiguous"] = rec["ambiguous"] or t.ambiguous
        if t.acked:
            self.count("heartbeat_acked")
        elif all(x[1] == 404 for x in t.attempts):
            rec.setdefault("not_found", []).append(t.attempts)
            self.count("heartbeat_404_everywhere")
        else:
            self.count("heartbeat_failed")

    def run(self):
        while not stop_load.is_set():
            r = self.rng.random()
            if len(self.live) < 8 or (r < 0.3 and len(self.live) < 40):
                self.register()
            elif r < 0.55:
                self.deregister()
            else:
                self.heartbeat()
            stop_load.wait(0.1)


class Proxy(threading.Thread):
    """GET /proxy/echo/chaos/N on a random node; on any failure once more on
    another node."""

    def __init__(self, k, nodes, seed, t0):
        super().__init__(daemon=True)
        self.k, self.nodes, self.t0 = k, nodes, t0
        self.rng = random.Random(seed * 100 + 50 + k)
        self.total = self.first_failed = self.failed = 0
        self.first_reasons, self.failures = {}, []

    def run(self):
        names = list(self.nodes)
        n = 0
        while not stop_load.is_set():
            n += 1
            a = self.rng.choice(names)
            status, _, _, err = request(self.nodes[a], "GET", f"/proxy/echo/chaos/{self.k}-{n}")
            self.total += 1
            if status is None or not 200 <= status < 300:
                self.first_failed += 1
                why = f"{a}:{status or err}"
                key = str(status or err)
                self.first_reasons[key] = self.first_reasons.get(key, 0) + 1
                b = self.rng.choice([x for x in names if x != a])
                s2, body2, _, err2 = request(self.nodes[b], "GET", f"/proxy/echo/chaos/{self.k}-{n}")
                if s2 is None or not 200 <= s2 < 300:
                    self.failed += 1
                    self.failures.append({"t": round(time.time() - self.t0, 3), "first": why,
                                          "retry": f"{b}:{s2 or err2}", "body": body2[:200].decode(errors="replace")})
            stop_load.wait(0.05)


# -- observers --------------------------------------------------------------------

class SseWatcher(threading.Thread):
    """member_* events of one node's GET /api/events, reconnecting whenever
    the stream ends or stays silent past the keep-alive."""

    def __init__(self, name, addr, t0, events):
        super().__init__(daemon=True)
        self.name, self.addr, self.t0, self.events = name, addr, t0, events
        self.connects = 0

    def run(self):
        while not stop_watch.is_set():
            try:
                self.stream()
            except (OSError, ValueError):
                pass
            stop_watch.wait(0.3)

    def stream(self):
        s = socket.create_connection(self.addr, timeout=1.0)
        try:
            s.sendall(f"GET /api/events HTTP/1.1\r\nHost: {self.addr[0]}:{self.addr[1]}\r\n"
                      "Accept: text/event-stream\r\n\r\n".encode())
            head_buf, head, pending, text = b"", None, b"", b""
            last = time.time()
            chunked, event = False, None
            while not stop_watch.is_set():
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    if time.time() - last > 20:
                        return  # the keep-alive comes every 15 s
                    continue
                if not data:
                    return
                last = time.time()
                if head is None:
                    head_buf += data
                    if b"\r\n\r\n" not in head_buf:
                        continue
                    head, _, data = head_buf.partition(b"\r\n\r\n")
                    if int(head.split(None, 2)[1]) != 200:
                        return
                    self.connects += 1
                    chunked = b"chunked" in head.lower()
                if chunked:
                    pending += data
                    data = b""
                    while True:  # whole chunks only
                        i = pending.find(b"\r\n")
                        if i < 0:
                            break
                        size = int(pending[:i].split(b";")[0] or b"0", 16)
                        if len(pending) < i + 2 + size + 2:
                            break
                        data += pending[i + 2:i + 2 + size]
                        pending = pending[i + 2 + size + 2:]
                        if size == 0:
                            return
                text += data
                *lines, text = text.split(b"\n")
                for ln in lines:
                    ln = ln.rstrip(b"\r")
                    if ln.startswith(b"event:"):
                        event = ln[6:].strip().decode()
                    elif ln.startswith(b"data:") and event and event.startswith("member_"):
                        try:
                            d = json.loads(ln[5:])
                        except ValueError:
                            d = {}
                        self.events.append({"t": time.time(), "observer": self.name, "event": event,
                                            "subject": d.get("name"), "incarnation": d.get("incarnation")})
                    elif not ln:
                        event = None
        finally:
            s.close()


class MemberPoller(threading.Thread):
    """One node's /api/cluster/members every 200 ms; records each change of
    a member's status."""

    def __init__(self, name, addr, t0, changes):
        super().__init__(daemon=True)
        self.name, self.addr, self.t0, self.changes = name, addr, t0, changes
        self.view = {}
        self.polls = self.answered = 0

    def run(self):
        while not stop_watch.is_set():
            m = members_of(self.addr, timeout=1.0)
            self.polls += 1
            if m is not None:
                self.answered += 1
                now = time.time()
                for subject, st in m.items():
                    if self.view.get(subject) != st:
                        self.changes.append({"t": now, "observer": self.name, "subject": subject,
                                             "from": self.view.get(subject), "to": st})
                self.view = m
            stop_watch.wait(0.2)


class EchoPoller(threading.Thread):
    """Every echo's GET /control every 200 ms: the times its healthChecks
    count rose, and its healthChecksBy."""

    def __init__(self, echoes):
        super().__init__(daemon=True)
        self.echoes = echoes
        self.rises = {n: [] for n in echoes}
        self.last = {n: None for n in echoes}
        self.first_by, self.last_by = {}, {}

    def run(self):
        while not stop_watch.is_set():
            for n, addr in self.echoes.items():
                j = get_json(addr, "/control", 1.0)
                if j is None:
                    continue
                c = j.get("healthChecks", 0)
                self.first_by.setdefault(n, j.get("healthChecksBy", {}))
                self.last_by[n] = j.get("healthChecksBy", {})
                if self.last[n] is None or c > self.last[n]:
                    self.rises[n].append(time.time())
                self.last[n] = c
            stop_watch.wait(0.2)


# -- run and report ---------------------------------------------------------------

def converge(nodes, t_ref, limit):
    """Polls until every node sees every node alive and all catalogs are
    equal, at most limit s past t_ref. Returns (seconds since t_ref or None,
    views, catalogs)."""
    deadline = t_ref + limit
    views, cats = {}, {}
    while True:
        views = {n: members_of(addr) for n, addr in nodes.items()}
        cats = {n: catalog_of(addr) for n, addr in nodes.items()}
        alive = all(v is not None and all(v.get(m) == "alive" for m in nodes) for v in views.values())
        fps = [fingerprint(c) if c is not None else None for c in cats.values()]
        if alive and all(f is not None and f == fps[0] for f in fps):
            return time.time() - t_ref, views, cats
        if time.time() > deadline:
            return None, views, cats
        time.sleep(0.2)


def justified(t, observer, subject, faults, grace):
    """A dead verdict of observer about subject at t is explained by a fault
    of the subject, or a partition of either, running then (until grace s
    after its end)."""
    for f in faults:
        if not f["start"] <= t <= f["end"] + grace:
            continue
        if f["node"] == subject or (f["kind"] == "partition" and f["node"] == observer):
            return f
    return None


def cmd_run(a):
    nodes, echoes = parse_named(a.nodes), parse_named(a.echoes)
    t0 = a.t0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sse_events, member_changes, journal = [], [], []
    watchers = [SseWatcher(n, addr, t0, sse_events) for n, addr in nodes.items()]
    pollers = [MemberPoller(n, addr, t0, member_changes) for n, addr in nodes.items()]
    echo_poller = EchoPoller(echoes)
    for th in watchers + pollers + [echo_poller]:
        th.start()
    writers = [Writer(k, nodes, echoes, a.seed, t0, journal) for k in range(1, a.writers + 1)]
    proxies = [Proxy(k, nodes, a.seed, t0) for k in range(1, a.proxies + 1)]
    d = t0 - time.time()
    if d > 0:
        time.sleep(d)
    for th in writers + proxies:
        th.start()
    time.sleep(max(0.0, t0 + a.duration - time.time()))
    stop_load.set()
    for th in writers + proxies:
        th.join(3 * TIMEOUT + 1)
    load_end = time.time()
    log(f"load ended at +{load_end - t0:.2f}s")

    done_by = time.time() + a.duration + 30
    while time.time() < done_by:
        try:
            open(a.faults + ".done").close()
            break
        except OSError:
            time.sleep(0.1)
    faults = []
    with open(a.faults) as f:
        for ln in f:
            if ln.strip():
                faults.append(json.loads(ln))
    last_end = max([f["end"] for f in faults] + [t0])
    t_ref = max(last_end, load_end)
    conv, views, cats = converge(nodes, t_ref, a.converge_max)
    conv_at = time.time()
    time.sleep(1.0)  # late SSE events
    stop_watch.set()
    for th in watchers + pollers + [echo_poller]:
        th.join(3)

    # Acknowledged writes lost; deregistered instances that came back.
    ids = {}
    for w in writers:
        ids.update(w.ids)
    node_names = list(nodes)
    lost, back, back_explained, unsure = [], [], [], 0
    for iid, rec in sorted(ids.items()):
        key = f"{rec['service']}/{iid}"
        present = {n: (cats.get(n) is not None and key in cats[n]) for n in node_names}
        answered = [n for n in node_names if cats.get(n) is not None]
        if rec["state"] == "live":
            missing = [n for n in answered if not present[n]]
            if missing:
                lost.append({"id": key, "registered_on": rec["registered_on"],
                             "registered_at": rec["registered_at"], "missing_on": missing,
                             "not_found": rec.get("not_found")})
        elif rec["state"] == "deregistered":
            on = [n for n in answered if present[n]]
            if on:
                rev, st, origin = cats[on[0]][key]
                item = {"id": key, "registered_on": rec["registered_on"],
                        "registered_at": rec["registered_at"],
                        "deregistered_on": rec.get("deregistered_on"),
                        "deregistered_at": rec.get("deregistered_at"), "present_on": on,
                        "status": st, "origin": origin, "revision": rev,
                        "revision_at": round((int(rev) >> 12) / 1e6 - t0, 3)
                        if isinstance(rev, int) or str(rev).isdigit() else None}
                (back_explained if rec["ambiguous"] else back).append(item)
        else:
            unsure += 1
    for n in echoes:  # the upstreams' own registrations
        key = f"echo/echo-{n}"
        missing = [x for x in node_names if cats.get(x) is not None and key not in cats[x]]
        if missing:
            lost.append({"id": key, "missing_on": missing})

    # Dead verdicts: SSE member_dead, and member-list changes to dead not
    # already heard on SSE within 2 s.
    verdicts = [dict(e, source="sse") for e in sse_events if e["event"] == "member_dead"]
    for c in member_changes:
        if c["to"] != "dead":
            continue
        if any(v["observer"] == c["observer"] and v["subject"] == c["subject"]
               and abs(v["t"] - c["t"]) < 2.0 for v in verdicts if v["source"] == "sse"):
            continue
        verdicts.append({"t": c["t"], "observer": c["observer"], "subject": c["subject"], "source": "poll"})
    verdicts.sort(key=lambda v: v["t"])
    false_dead = []
    for v in verdicts:
        f = justified(v["t"], v["observer"], v["subject"], faults, a.grace)
        v["by"] = f"{f['kind']} {f['node']}" if f else None
        if not f:
            false_dead.append(v)

    # Unchecked: gaps between rises of each echo's health-check count, from
    # the load's start to the convergence poll's end.
    limit = a.interval + a.detect
    gaps = {}
    long_gaps = []
    for n, rises in echo_poller.rises.items():
        ts = [t0] + [t for t in rises if t > t0] + [conv_at]
        g = [(ts[i + 1] - ts[i], ts[i]) for i in range(len(ts) - 1)]
        worst = max(g, default=(0.0, t0))
        gaps[n] = round(worst[0], 2)
        for length, start in g:
            if length > limit:
                long_gaps.append({"echo": n, "from": round(start - t0, 2), "seconds": round(length, 2)})
    checks_by = {}
    for n in echoes:
        first, last = echo_poller.first_by.get(n, {}), echo_poller.last_by.get(n, {})
        checks_by[n] = {k: last[k] - first.get(k, 0) for k in sorted(last) if last[k] - first.get(k, 0)}

    counts = {}
    for w in writers:
        for k, v in w.counts.items():
            counts[k] = counts.get(k, 0) + v
    p_total = sum(p.total for p in proxies)
    p_first = sum(p.first_failed for p in proxies)
    p_failed = sum(p.failed for p in proxies)
    reasons = {}
    for p in proxies:
        for k, v in p.first_reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    p_failures = [f for p in proxies for f in p.failures]

    # Membership: from the last fault's end until the last change any
    # member list showed, if every list ends with every node alive.
    final = {}
    members_at = last_end
    for c in member_changes:
        final[(c["observer"], c["subject"])] = c["to"]
        if c["t"] > last_end:
            members_at = max(members_at, c["t"])
    all_alive = len(final) == len(nodes) ** 2 and all(v == "alive" for v in final.values())
    members_conv = round(members_at - last_end, 3) if all_alive else None
    # Per fault on node K: from its end until K sees every other node alive
    # and every other node sees K alive (a node under the next fault left
    # out), from the member-list polls; not past the next fault on K.
    changes = sorted(member_changes, key=lambda c: c["t"])
    for i, f in enumerate(faults):
        k = f["node"]
        nxt = next((g["start"] for g in faults[i + 1:] if g["node"] == k), conv_at)

        def recovered(state, t):
            busy = {g["node"] for g in faults if g is not f and g["start"] <= t <= g["end"]}
            pairs = [(o, x) for o in nodes for x in nodes
                     if o != x and k in (o, x) and o not in busy and x not in busy]
            return all(state.get(p) == "alive" for p in pairs)

        state, after, at_end = {}, None, False
        for c in changes:
            if c["t"] > nxt:
                break
            if c["t"] >= f["end"] and not at_end:
                at_end = True
                if recovered(state, f["end"]):
                    after = 0.0
                    break
            state[(c["observer"], c["subject"])] = c["to"]
            if at_end and recovered(state, c["t"]):
                after = round(c["t"] - f["end"], 3)
                break
        if after is None and not at_end and recovered(state, f["end"]):
            after = 0.0
        f["all_alive_after"] = after
    result = {
        "seed": a.seed, "duration": a.duration, "faults": len(faults),
        "fault_kinds": {k: sum(1 for f in faults if f["kind"] == k) for k in ("kill", "stop", "partition")},
        "writes": counts, "unsure": unsure,
        "lost_acked_writes": len(lost), "deregistered_came_back": len(back),
        "deregistered_came_back_after_unanswered_request": len(back_explained),
        "proxied_gets": p_total, "proxy_first_try_failed": p_first, "proxy_failed_after_retry": p_failed,
        "proxy_first_try_reasons": reasons,
        "dead_verdicts": len(verdicts), "false_dead": len(false_dead),
        "unchecked_limit_s": limit, "unchecked_longer": len(long_gaps), "longest_unchecked_s": gaps,
        "checks_by_node": checks_by,
        "members_converged_after_last_fault_s": members_conv,
        "converged_after_load_s": None if conv is None else round(conv, 3),
        "last_fault_end_s": round(last_end - t0, 3), "load_end_s": round(load_end - t0, 3),
    }
    details = {"lost": lost, "came_back": back, "came_back_after_unanswered_request": back_explained,
               "false_dead": [dict(v, t=round(v["t"] - t0, 3)) for v in false_dead],
               "verdicts": [dict(v, t=round(v["t"] - t0, 3)) for v in verdicts],
               "long_gaps": long_gaps, "proxy_failures": p_failures,
               "faults": [dict(f, start=round(f["start"] - t0, 3), end=round(f["end"] - t0, 3),
                               restart=None if f["restart"] is None else round(f["restart"] - t0, 3),
                               up=None if f["up"] is None else round(f["up"] - t0, 3)) for f in faults],
               "final_views": views,
               "final_fingerprints": {n: (fingerprint(c) if c is not None else None) for n, c in cats.items()},
               "sse_connects": {w.name: w.connects for w in watchers}}
    with open(f"{a.out}/details.json", "w") as f:
        json.dump(details, f, indent=1)
    with open(f"{a.out}/journal.jsonl", "w") as f:
        for e in journal:
            f.write(json.dumps(e) + "\n")
    with open(f"{a.out}/members.jsonl", "w") as f:
        for e in sorted(sse_events + member_changes, key=lambda e: e["t"]):
            f.write(json.dumps(dict(e, t=round(e["t"] - t0, 3))) + "\n")
    report(result, details)
    print(json.dumps(result, separators=(",", ":")))
    return 0


def report(r, d):
    print("\nfaults (seconds from the load's start):")
    for f in d["faults"]:
        extra = ""
        if f["kind"] == "kill":
            extra = f", restarted +{f['restart']}, answering " + (f"+{f['up']}" if f["up"] is not None else "not within its slot")
        back = f.get("all_alive_after")
        back = (f"{f['node']} and the others not all alive again before its next fault" if back is None
                else f"{f['node']} and the others all alive again {back} s after")
        print(f"  +{f['start']:6.2f} .. +{f['end']:6.2f}  {f['kind']:9s} {f['node']}{extra}; {back}")
    w = r["writes"]

    def row(what, value, aim=""):
        print(f"  {what:58s} {str(value):>12s}  {aim}")

    print("\nresults:")
    row("registrations acked / sent", f"{w.get('register_acked', 0)}/{w.get('register', 0)}")
    row("deregistrations acked / sent", f"{w.get('deregister_acked', 0)}/{w.get('deregister', 0)}")
    row("heartbeats acked / sent", f"{w.get('heartbeat_acked', 0)}/{w.get('heartbeat', 0)}")
    row("writes needing another node (register/dereg/heartbeat)",
        f"{w.get('register_retried', 0)}/{w.get('deregister_retried', 0)}/{w.get('heartbeat_retried', 0)}")
    row("instances left out (outcome unknown to the client)", r["unsure"])
    row("acknowledged writes lost", r["lost_acked_writes"], "aim 0")
    row("deregistered instances that came back", r["deregistered_came_back"], "aim 0")
    row("  ... after an unanswered request of the client (LWW)", r["deregistered_came_back_after_unanswered_request"])
    row("proxied GETs / failed on the first node", f"{r['proxied_gets']}/{r['proxy_first_try_failed']}")
    row("proxied GETs failed after the retry", r["proxy_failed_after_retry"], "aim 0")
    row("dead verdicts heard / false", f"{r['dead_verdicts']}/{r['false_dead']}", "aim 0 false")
    row(f"echo instances unchecked > {r['unchecked_limit_s']} s (times)", r["unchecked_longer"], "aim 0")
    row("longest unchecked per echo (s)", " ".join(f"{k}={v}" for k, v in r["longest_unchecked_s"].items()))
    mc = r["members_converged_after_last_fault_s"]
    row("all alive in every member list, after the last fault (s)", "NOT REACHED" if mc is None else mc,
        f"(it ended at +{r['last_fault_end_s']} s; member lists polled every 200 ms)")
    conv = r["converged_after_load_s"]
    row("all alive and equal catalogs, after the load stopped (s)", "NOT REACHED" if conv is None else conv,
        f"(at +{r['load_end_s']} s; polled every 200 ms)")
    print("  health checks during the run, by checking node: " +
          "; ".join(f"{k}: " + ", ".join(f"{n}={c}" for n, c in v.items()) for k, v in r["checks_by_node"].items()))
    if r["proxy_first_try_reasons"]:
        print("  first-try failures by answer: " + ", ".join(f"{k}={v}" for k, v in r["proxy_first_try_reasons"].items()))
    for item in d["lost"][:10]:
        print(f"LOST: {json.dumps(item)}")
    for item in d["came_back"][:10]:
        print(f"CAME BACK: {json.dumps(item)}")
    for item in d["came_back_after_unanswered_request"][:10]:
        print(f"came back after an unanswered request: {json.dumps(item)}")
    for v in d["false_dead"][:10]:
        print(f"FALSE DEAD: {json.dumps(v)}")
    for g in d["long_gaps"][:10]:
        print(f"UNCHECKED: {json.dumps(g)}")
    for p in d["proxy_failures"][:10]:
        print(f"PROXY FAILED: {json.dumps(p)}")
    if conv is None:
        print(f"NOT CONVERGED: views {json.dumps(d['final_views'])} catalogs {json.dumps(d['final_fingerprints'])}")
    print()


def cmd_suspects(a):
    """'lost ID' and 'came_back ID' lines from a run's details.json."""
    with open(a.details) as f:
        d = json.load(f)
    for k in ("lost", "came_back"):
        for item in d.get(k, [])[:5]:
            print(k, item["id"].split("/", 1)[-1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--nodes", required=True)
    s.add_argument("--echoes", required=True)
    s.add_argument("--timeout", type=float, default=30)
    r = sub.add_parser("run")
    r.add_argument("--nodes", required=True)
    r.add_argument("--echoes", required=True)
    r.add_argument("--t0", type=float, required=True)
    r.add_argument("--duration", type=float, required=True)
    r.add_argument("--writers", type=int, default=4)
    r.add_argument("--proxies", type=int, default=2)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--faults", required=True)
    r.add_argument("--converge-max", type=float, default=60)
    r.add_argument("--detect", type=float, default=4)
    r.add_argument("--grace", type=float, default=2)
    r.add_argument("--interval", type=float, default=1)
    r.add_argument("--out", required=True)
    x = sub.add_parser("suspects")
    x.add_argument("--details", required=True)
    a = ap.parse_args()
    return {"setup": cmd_setup, "run": cmd_run, "suspects": cmd_suspects}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
