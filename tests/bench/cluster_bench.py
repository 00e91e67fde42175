#!/usr/bin/env python3
"""Client side of tests/bench/cluster_bench.sh: load, watchers and pollers.

Python 3 standard library only. Everything talks to 127.0.0.1. Each
subcommand bounds its own run time and prints one JSON object on stdout;
progress and trouble go to stderr.

  propagate  paced writes into one node (valmesh: POST /api/services; etcd:
             the v3 JSON gateway's POST /v3/kv/put) while one process per
             other node watches (valmesh: GET /api/events; etcd: POST
             /v3/watch); per write, the time from its ack to its appearance
             on every watcher
  fill       registrations as fast as CONNS keep-alive connections take them
  members    waits until a member reaches a status on every observer
  formed     waits until every node sees every name alive
  catalog    fingerprints of the catalogs of nodes (every instance of every
             service as name/id@revision, sorted)
  catchup    polls one node until its catalog fingerprint equals a reference
  sselog     appends a node's SSE events to a file, with receive times
  count      instances per node (sum of instanceCount in /api/services)

Times within one host are CLOCK_MONOTONIC (time.monotonic()), which every
process shares; --t0 arguments are wall-clock epoch seconds (bash's
EPOCHREALTIME), converted once on entry.
"""

import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import math
import multiprocessing as mp
import os
import signal
import socket
import sys
import time
import urllib.parse

HOST = "127.0.0.1"


def log(msg):
    print(f"[cluster_bench.py] {msg}", file=sys.stderr, flush=True)


def mono_of_epoch(t):
    """A wall-clock epoch time, as time.monotonic() would have said it."""
    return time.monotonic() - (time.time() - t)


def pct(values, q):
    """Nearest-rank percentile of a sorted list; None when empty."""
    if not values:
        return None
    k = max(1, math.ceil(q * len(values)))
    return values[min(k, len(values)) - 1]


def ms(x):
    return None if x is None else round(x * 1000.0, 3)


# -- a small HTTP/1.1 client for asyncio (keep-alive, Content-Length or chunked)

async def read_response(reader):
    line = await reader.readline()
    if not line:
        raise ConnectionError("connection closed")
    parts = line.split(None, 2)
    status = int(parts[1])
    length, chunked, close = None, False, False
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.partition(b":")
        k = k.strip().lower()
        v = v.strip().lower()
        if k == b"content-length":
            length = int(v)
        elif k == b"transfer-encoding" and b"chunked" in v:
            chunked = True
        elif k == b"connection" and v == b"close":
            close = True
    body = b""
    if chunked:
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunks.append(await reader.readexactly(size + 2))
        body = b"".join(c[:-2] for c in chunks)
    elif length:
        body = await reader.readexactly(length)
    return status, body, close


def request_bytes(method, port, path, body=b"", ctype="application/json"):
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
    if body or method in ("POST", "PUT"):
        head += f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class Pool:
    """CONNS keep-alive connections; a broken one is opened again."""

    def __init__(self, port, conns):
        self.port, self.n = port, conns
        self.free = asyncio.Queue()

    async def open(self):
        for _ in range(self.n):
            self.free.put_nowait(await asyncio.open_connection(HOST, self.port))

    async def send(self, conn, data):
        """Sends one request on conn = (reader, writer); returns (status or
        None, body, error, conn to hand back)."""
        r, w = conn
        try:
            w.write(data)
            status, body, close = await asyncio.wait_for(read_response(r), 30)
            if close:
                w.close()
                r, w = await asyncio.open_connection(HOST, self.port)
            return status, body, None, (r, w)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as e:
            w.close()
            for _ in range(20):
                try:
                    return None, b"", repr(e), await asyncio.open_connection(HOST, self.port)
                except OSError:
                    await asyncio.sleep(0.1)
            raise

    def close(self):
        while not self.free.empty():
            self.free.get_nowait()[1].close()


def instance_body(service, iid, port=7000):
    return json.dumps({"name": service, "id": iid, "host": HOST, "port": port},
                      separators=(",", ":")).encode()


def write_request(kind, port, key_prefix, service, iid):
    """The request that writes item `iid`: a registration or an etcd put."""
    if kind == "valmesh":
        return request_bytes("POST", port, "/api/services", instance_body(service, iid))
    key = base64.b64encode((key_prefix + iid).encode()).decode()
    value = base64.b64encode(instance_body(service, iid)).decode()
    return request_bytes("POST", port, "/v3/kv/put",
                         json.dumps({"key": key, "value": value}).encode())


async def paced_writes(port, conns, reqs, rate, deadline, ok_status):
    """Sends reqs[i] at t0 + i/rate (rate None: as fast as the pool allows)
    until the monotonic deadline. Returns (t0, [(i, sent, acked or None,
    status, error)])."""
    pool = Pool(port, conns)
    await pool.open()
    out = []

    async def one(i, conn, data):
        sent = time.monotonic()
        try:
            status, _, err, conn = await pool.send(conn, data)
        except OSError as e:  # the node stopped answering connects
            status, err = None, repr(e)
        pool.free.put_nowait(conn)
        acked = time.monotonic() if status == ok_status else None
        out.append((i, sent, acked, status, err))

    tasks = []
    t0 = time.monotonic()
    for i, data in enumerate(reqs):
        if rate:
            d = t0 + i / rate - time.monotonic()
            if d > 0:
                await asyncio.sleep(d)
        conn = await pool.free.get()  # waits while every connection is busy
        if time.monotonic() > deadline:
            pool.free.put_nowait(conn)
            break
        tasks.append(asyncio.create_task(one(i, conn, data)))
    await asyncio.gather(*tasks)
    pool.close()
    return t0, out


# -- streaming watchers (one process each) ------------------------------------

class Dechunk:
    def __init__(self):
        self.buf, self.need, self.done = b"", 0, False

    def feed(self, data):
        self.buf += data
        out = []
        while not self.done:
            if self.need == 0:
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                if not line:
                    continue  # the CRLF that ends a chunk
                self.need = int(line.split(b";")[0], 16)
                if self.need == 0:
                    self.done = True
                    break
            take = self.buf[:self.need]
            out.append(take)
            self.buf = self.buf[len(take):]
            self.need -= len(take)
            if self.need:
                break
        return b"".join(out)


def open_stream(kind, port, key_prefix):
    """Connects and subscribes; returns (socket, dechunker or None, rest)."""
    s = socket.create_connection((HOST, port), timeout=10)
    if kind == "valmesh":
        s.sendall(f"GET /api/events HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                  "Accept: text/event-stream\r\n\r\n".encode())
    else:
        start = key_prefix.encode()
        end = start[:-1] + bytes([start[-1] + 1])
        body = json.dumps({"create_request": {
            "key": base64.b64encode(start).decode(),
            "range_end": base64.b64encode(end).decode()}}).encode()
        s.sendall(request_bytes("POST", port, "/v3/watch", body))
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = s.recv(65536)
        if not data:
            raise ConnectionError(f"port {port}: closed before the response head")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(None, 2)[1])
    if status != 200:
        raise ConnectionError(f"port {port}: status {status}: {head[:200]!r}")
    chunked = b"chunked" in head.lower()
    return s, (Dechunk() if chunked else None), rest


def stream_lines(s, dechunk, rest, stop, on_line):
    """Calls on_line(line, t) for every line until stop is set or the stream
    ends; t is the monotonic time of the recv that completed the line."""
    s.settimeout(0.1)
    pending = b""
    data = rest
    t = time.monotonic()
    while True:
        if data:
            pending += dechunk.feed(data) if dechunk else data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                on_line(line.rstrip(b"\r"), t)
        if stop.is_set():
            return "stopped"
        try:
            data = s.recv(262144)
            t = time.monotonic()
        except socket.timeout:
            data = b""
            continue
        if not data:
            return "closed by the server"


def watcher(kind, port, prefix, key_prefix, warm_id, conn, ready, warm, count, stop):
    """One watcher process: sends {id: first seen} back through conn."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    seen, extra = {}, {"lagged": 0, "events": 0}
    try:
        s, dechunk, rest = open_stream(kind, port, key_prefix)
    except (OSError, ConnectionError) as e:
        conn.send({"error": repr(e), "seen": {}, "extra": extra})
        return
    ready.set()
    state = {"event": None, "data": None}

    def got(iid, t):
        if iid == warm_id:
            warm.set()
        elif iid.startswith(prefix) and iid not in seen:
            seen[iid] = t
            count.value = len(seen)

    def sse_line(line, t):
        if not line:
            if state["event"] == "registered" and state["data"]:
                extra["events"] += 1
                got(json.loads(state["data"]).get("id", ""), t)
            elif state["event"] == "lagged":
                extra["lagged"] += 1
            state["event"] = state["data"] = None
        elif line.startswith(b"event:"):
            state["event"] = line[6:].strip().decode()
        elif line.startswith(b"data:"):
            state["data"] = line[5:].strip()

    def etcd_line(line, t):
        if not line.strip():
            return
        res = json.loads(line).get("result", {})
        if res.get("canceled"):
            extra["canceled"] = res.get("cancel_reason", "canceled")
        for ev in res.get("events", []):
            if ev.get("type", "PUT") != "PUT":
                continue
            extra["events"] += 1
            key = base64.b64decode(ev["kv"]["key"]).decode()
            got(key[len(key_prefix):], t)

    end = stream_lines(s, dechunk, rest, stop, sse_line if kind == "valmesh" else etcd_line)
    if end != "stopped":
        extra["ended"] = end
    s.close()
    conn.send({"seen": seen, "extra": extra})


def cmd_propagate(a):
    watch_ports = [int(p) for p in a.watch.split(",")]
    prefix = f"{a.tag}-"
    warm_id = f"warm-{a.tag}"
    key_prefix = "/bench/"
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    procs = []
    for port in watch_ports:
        parent, child = ctx.Pipe(duplex=False)
        w = {"port": port, "conn": parent, "ready": ctx.Event(), "warm": ctx.Event(),
             "count": ctx.Value("q", 0, lock=False)}
        w["proc"] = ctx.Process(target=watcher, daemon=True, args=(
            a.kind, port, prefix, key_prefix, warm_id, child, w["ready"], w["warm"],
            w["count"], stop))
        w["proc"].start()
        procs.append(w)

    def finish(code, result):
        stop.set()
        for w in procs:
            w["proc"].join(5)
            if w["proc"].is_alive():
                w["proc"].kill()
        print(json.dumps(result))
        sys.exit(code)

    deadline = time.monotonic() + 15
    for w in procs:
        while not w["ready"].wait(0.1):
            if time.monotonic() > deadline or not w["proc"].is_alive():
                finish(1, {"error": f"watcher on port {w['port']} did not subscribe"})
    # One write before the measured ones: it proves every watcher hears this
    # node's writes (so the cluster has formed) before the clock starts.
    ok_status = 201 if a.kind == "valmesh" else 200
    deadline = time.monotonic() + a.warm_timeout
    tries = 0
    while True:
        tries += 1
        try:
            _, out = asyncio.run(paced_writes(a.port, 1, [write_request(
                a.kind, a.port, key_prefix, "warm", warm_id)], None, deadline, ok_status))
        except OSError as e:
            out = [(0, 0, None, repr(e), None)]
        if all(w["warm"].wait(max(0.0, min(2.0, deadline - time.monotonic()))) for w in procs):
            break
        if time.monotonic() > deadline:
            missing = [w["port"] for w in procs if not w["warm"].is_set()]
            finish(1, {"error": f"warm-up write not seen on ports {missing} "
                                f"within {a.warm_timeout}s (last status {out[0][3] if out else None})"})
    n = int(a.rate * a.duration)
    reqs = [write_request(a.kind, a.port, key_prefix, "bench", f"{prefix}{i}") for i in range(n)]
    t0, writes = asyncio.run(paced_writes(a.port, a.conns, reqs, a.rate,
                                          time.monotonic() + a.duration + 30, ok_status))
    acked = {f"{prefix}{i}": ack for i, _, ack, _, _ in writes if ack is not None}
    errors = {}
    for _, _, ack, status, err in writes:
        if ack is None:
            k = err or f"status {status}"
            errors[k] = errors.get(k, 0) + 1
    # Drain: until every watcher has every acked write, or drain s.
    deadline = time.monotonic() + a.drain
    while time.monotonic() < deadline and any(w["count"].value < len(acked) for w in procs):
        time.sleep(0.05)
    stop.set()
    seen, extras = [], []
    for w in procs:
        msg = w["conn"].recv() if w["conn"].poll(10) else {"seen": {}, "extra": {"error": "no answer"}}
        seen.append(msg.get("seen", {}))
        extras.append(dict(msg.get("extra", {}), port=w["port"], **(
            {"error": msg["error"]} if "error" in msg else {})))
    lat_all, lat_first, missing = [], [], 0
    missing_per = [0] * len(procs)
    for iid, ack in acked.items():
        ts = []
        for k, s in enumerate(seen):
            if iid in s:
                ts.append(s[iid])
            else:
                missing_per[k] += 1
        if len(ts) < len(seen):
            missing += 1
            continue
        lat_all.append(max(ts) - ack)
        lat_first.append(min(ts) - ack)
    if a.dump:
        # Per write: when it was sent, acked and seen on each watcher,
        # relative to the first write (seconds); for reading a tail.
        with open(a.dump, "a") as f:
            for i, sent, ack, _, _ in writes:
                iid = f"{prefix}{i}"
                f.write(json.dumps({"kind": a.kind, "tag": a.tag, "t0": t0, "i": i, "sent": sent - t0,
                                    "ack": None if ack is None else ack - t0,
                                    "seen": [s[iid] - t0 if iid in s else None for s in seen]}) + "\n")
    lat_all.sort()
    lat_first.sort()
    ack_lat = sorted(ack - sent for _, sent, ack, _, _ in writes if ack is not None)
    last_ack = max(acked.values()) if acked else t0
    result = {
        "kind": a.kind, "tag": a.tag, "planned": n, "sent": len(writes),
        "acked": len(acked), "errors": errors, "warm_tries": tries,
        "rate": round(len(acked) / (last_ack - t0), 1) if last_ack > t0 else None,
        "ack_p50": ms(pct(ack_lat, 0.5)), "ack_p99": ms(pct(ack_lat, 0.99)),
        "p50": ms(pct(lat_all, 0.5)), "p99": ms(pct(lat_all, 0.99)),
        "max": ms(lat_all[-1] if lat_all else None),
        "first_p50": ms(pct(lat_first, 0.5)), "first_p99": ms(pct(lat_first, 0.99)),
        "negative": sum(1 for x in lat_all if x < 0),
        "missing": missing, "missing_per_watcher": missing_per, "watchers": extras,
    }
    finish(0, result)


# -- blocking helpers for polling ---------------------------------------------

class Node:
    """A keep-alive connection to one node's HTTP API."""

    def __init__(self, port, timeout=5):
        self.port, self.timeout, self.c = port, timeout, None

    def get(self, path):
        for attempt in (1, 2):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
                self.c.request("GET", path)
                r = self.c.getresponse()
                body = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, body
            except (OSError, http.client.HTTPException):
                if self.c is not None:
                    self.c.close()
                self.c = None
                if attempt == 2:
                    return None, b""
        return None, b""

    def json(self, path):
        status, body = self.get(path)
        if status != 200:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def members(self):
        j = self.json("/api/cluster/members")
        if not j:
            return None
        return {m.get("name"): m.get("status") for m in j.get("members", [])}


def ports_of(s):
    return [int(p) for p in s.split(",") if p]


def cmd_members(a):
    """Sends the signal (if any), then polls every observer until each one
    reports the subject in one of the wanted statuses."""
    observers = {p: Node(p, timeout=2) for p in ports_of(a.observers)}
    want = set(a.want.split(","))
    t0 = time.monotonic()
    if a.signal != "none":
        os.kill(a.pid, getattr(signal, "SIG" + a.signal))
        t0 = time.monotonic()
    elif a.t0:
        t0 = mono_of_epoch(a.t0)
    first = {p: None for p in observers}
    suspect = {p: None for p in observers}
    last = {p: None for p in observers}
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        for p, node in observers.items():
            if first[p] is not None:
                continue
            m = node.members()
            now = time.monotonic()
            st = None if m is None else m.get(a.subject, "absent")
            last[p] = st if m is not None else "no answer"
            if st == "suspect" and suspect[p] is None:
                suspect[p] = now - t0
            if st in want:
                first[p] = now - t0
        if all(v is not None for v in first.values()):
            break
        time.sleep(a.poll_ms / 1000.0)
    done = all(v is not None for v in first.values())
    sus = [v for v in suspect.values() if v is not None]
    print(json.dumps({
        "subject": a.subject, "want": a.want, "done": done,
        "all": round(max(first.values()), 3) if done else None,
        "first": round(min(v for v in first.values() if v is not None), 3)
        if any(v is not None for v in first.values()) else None,
        "suspect_first": round(min(sus), 3) if sus else None,
        "per_observer": {str(p): (round(v, 3) if v is not None else None) for p, v in first.items()},
        "last_seen_status": {str(p): last[p] for p in observers},
    }))
    return 0 if done else 1


def cmd_formed(a):
    nodes = {p: Node(p, timeout=2) for p in ports_of(a.ports)}
    names = set(a.names.split(","))
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    views = {}
    while time.monotonic() < deadline:
        ok = True
        for p, node in nodes.items():
            m = node.members()
            views[p] = m
            if m is None or any(m.get(n) != "alive" for n in names):
                ok = False
        if ok:
            print(json.dumps({"formed": True, "seconds": round(time.monotonic() - t0, 3)}))
            return 0
        time.sleep(0.1)
    print(json.dumps({"formed": False, "views": {str(p): v for p, v in views.items()}}))
    return 1


def catalog_lines(node):
    """Sorted name/id@revision of every instance, or None if the node did
    not answer completely."""
    j = node.json("/api/services")
    if j is None:
        return None
    lines = []
    for s in j.get("services", []):
        name = s.get("name", "")
        status, body = node.get("/api/services/" + urllib.parse.quote(name, safe=""))
        if status == 404:
            continue
        if status != 200:
            return None
        for x in json.loads(body).get("instances", []):
            rev = x.get("revision")
            rev = rev if isinstance(rev, str) else json.dumps(rev, sort_keys=True)
            lines.append(f"{name}/{x.get('id')}@{rev}")
    lines.sort()
    return lines


def fingerprint(lines):
    return {"count": len(lines), "sha": hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]}


def cmd_catalog(a):
    nodes = {p: Node(p, timeout=30) for p in ports_of(a.ports)}
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    while True:
        fps = {}
        for p, node in nodes.items():
            lines = catalog_lines(node)
            fps[str(p)] = fingerprint(lines) if lines is not None else None
        vals = list(fps.values())
        same = all(v is not None and v == vals[0] for v in vals)
        if same or not a.wait_equal or time.monotonic() > deadline:
            print(json.dumps({"equal": same, "seconds": round(time.monotonic() - t0, 3),
                              "nodes": fps, "ref": vals[0] if same else None}))
            return 0 if same or not a.wait_equal else 1
        time.sleep(0.5)


def instance_total(node):
    j = node.json("/api/services")
    return None if j is None else sum(s.get("instanceCount", 0) for s in j.get("services", []))


def cmd_catchup(a):
    """Polls one node until its catalog equals the others': each poll reads
    its /api/services, and its whole catalog once the instance count
    matches. The reference is --sha/--count (the others' catalog before the
    restart); when the node's catalog differs from it, the others are read
    again (at most once a second), in case their catalog moved meanwhile."""
    node = Node(a.port, timeout=10)
    others = [Node(p, timeout=30) for p in ports_of(a.others)]
    ref = {"sha": a.sha, "count": a.count}
    t0 = mono_of_epoch(a.t0)
    deadline = time.monotonic() + a.timeout
    polls, full, refreshed, last, http_up, last_refresh = 0, 0, 0, None, None, 0.0
    while time.monotonic() < deadline:
        start = time.monotonic()
        total = instance_total(node)
        polls += 1
        if total is not None and http_up is None:
            http_up = start - t0
        if total is not None:
            last = {"count": total}
        if total == ref["count"]:
            lines = catalog_lines(node)
            full += 1
            end = time.monotonic()
            if lines is not None:
                last = fingerprint(lines)
                if last != ref and others and time.monotonic() - last_refresh >= 1:
                    last_refresh = time.monotonic()
                    fps = [catalog_lines(o) for o in others]
                    fps = [fingerprint(x) if x is not None else None for x in fps]
                    if fps[0] is not None and all(f == fps[0] for f in fps) and fps[0] != ref:
                        ref = fps[0]
                        refreshed += 1
                if last == ref:
                    print(json.dumps({"done": True, "seconds": round(end - t0, 3),
                                      "poll_started": round(start - t0, 3),
                                      "poll_seconds": round(end - start, 3), "polls": polls,
                                      "full_reads": full, "ref_moved": refreshed,
                                      "http_up": round(http_up, 3)}))
                    return 0
        time.sleep(a.poll_ms / 1000.0)
    print(json.dumps({"done": False, "polls": polls, "full_reads": full, "ref_moved": refreshed,
                      "last": last, "ref": ref,
                      "http_up": None if http_up is None else round(http_up, 3)}))
    return 1


def cmd_fill(a):
    """Registers N instances spread over S services, as fast as the pool takes
    them, until the deadline; ids PREFIX-SERVICE-K."""
    reqs = []
    per = max(1, math.ceil(a.n / a.services))
    for i in range(a.n):
        svc = f"{a.prefix}-svc-{i // per}"
        reqs.append(write_request("valmesh", a.port, "", svc, f"{a.prefix}-{i}"))
    t_start = time.monotonic()
    _, out = asyncio.run(paced_writes(a.port, a.conns, reqs, None,
                                      time.monotonic() + a.timeout, 201))
    took = time.monotonic() - t_start
    ok = sum(1 for _, _, ack, _, _ in out if ack is not None)
    errors = {}
    for _, _, ack, status, err in out:
        if ack is None:
            k = err or f"status {status}"
            errors[k] = errors.get(k, 0) + 1
    print(json.dumps({"planned": a.n, "sent": len(out), "acked": ok, "errors": errors,
                      "seconds": round(took, 3), "rate": round(ok / took, 1) if took else None,
                      "services": min(a.services, a.n)}))
    return 0


def cmd_count(a):
    res = {str(p): instance_total(Node(p, timeout=30)) for p in ports_of(a.ports)}
    print(json.dumps(res))
    return 0


def cmd_sselog(a):
    """Writes 'T EVENT DATA' per event (T: monotonic s) until --seconds pass
    or SIGTERM."""
    stop = mp.get_context("fork").Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    s, dechunk, rest = open_stream("valmesh", a.port, "")
    state = {"event": None, "data": b""}
    out = open(a.out, "w", buffering=1)
    deadline = time.monotonic() + a.seconds

    def line(ln, t):
        if not ln:
            if state["event"]:
                out.write(f"{t:.3f} {state['event']} {state['data'].decode(errors='replace')}\n")
            state["event"], state["data"] = None, b""
        elif ln.startswith(b"event:"):
            state["event"] = ln[6:].strip().decode()
        elif ln.startswith(b"data:"):
            state["data"] = ln[5:].strip()
        if time.monotonic() > deadline:
            stop.set()

    class Deadline:
        def is_set(self):
            if time.monotonic() > deadline:
                stop.set()
            return stop.is_set()

    end = stream_lines(s, dechunk, rest, Deadline(), line)
    out.write(f"{time.monotonic():.3f} _end {json.dumps(end)}\n")
    out.close()
    return 0


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("propagate")
    p.add_argument("--kind", choices=["valmesh", "etcd"], required=True)
    p.add_argument("--port", type=int, required=True, help="the node written to")
    p.add_argument("--watch", required=True, help="ports of the watched nodes, comma-separated")
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--tag", default="r1")
    p.add_argument("--drain", type=float, default=30)
    p.add_argument("--warm-timeout", type=float, default=30)
    p.add_argument("--dump", default=os.environ.get("PROPAGATION_DUMP", ""),
                   help="append each write's times (JSON lines) to this file")
    p = sub.add_parser("members")
    p.add_argument("--signal", default="none", help="KILL, STOP, CONT, TERM or none")
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--t0", type=float, default=0, help="epoch seconds (with --signal none)")
    p.add_argument("--subject", required=True)
    p.add_argument("--want", required=True, help="statuses, comma-separated")
    p.add_argument("--observers", required=True)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--poll-ms", type=float, default=20)
    p = sub.add_parser("formed")
    p.add_argument("--ports", required=True)
    p.add_argument("--names", required=True)
    p.add_argument("--timeout", type=float, default=30)
    p = sub.add_parser("catalog")
    p.add_argument("--ports", required=True)
    p.add_argument("--wait-equal", action="store_true")
    p.add_argument("--timeout", type=float, default=30)
    p = sub.add_parser("catchup")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--t0", type=float, required=True)
    p.add_argument("--sha", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--others", default="", help="ports of the other nodes")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--poll-ms", type=float, default=100)
    p = sub.add_parser("fill")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--services", type=int, default=10)
    p.add_argument("--prefix", default="fill")
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--timeout", type=float, default=60)
    p = sub.add_parser("count")
    p.add_argument("--ports", required=True)
    p = sub.add_parser("sselog")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=float, default=120)
    a = ap.parse_args()
    return {"propagate": cmd_propagate, "members": cmd_members, "formed": cmd_formed,
            "catalog": cmd_catalog, "catchup": cmd_catchup, "fill": cmd_fill,
            "count": cmd_count, "sselog": cmd_sselog}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main() or 0)
