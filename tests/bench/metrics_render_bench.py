#!/usr/bin/env python3
"""The client side of metrics_render_bench.sh (Python 3 standard library).

  register ADDR SERVICES INSTANCES ECHO_PORT
      registers SERVICES x INSTANCES instances (ids svc-S-I, all at the echo)
      over one keep-alive connection
  call ADDR SERVICES INSTANCES
      makes INSTANCES calls per service through /proxy/svc-S/ (round-robin
      reaches each instance once); prints the count of non-200 answers
  scrape ADDR N
      GETs PATH N times over one keep-alive connection; prints the size of
      the answer and the time of each scrape (ms): min, median, p90, max
"""
import http.client
import json
import statistics
import sys
import time


def conn(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=60)


def register(addr, services, instances, echo_port):
    c = conn(addr)
    for s in range(services):
        for i in range(instances):
            body = json.dumps({"name": f"svc-{s}", "id": f"svc-{s}-{i}",
                               "host": "127.0.0.1", "port": echo_port})
            c.request("POST", "/api/services", body,
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status != 201:
                sys.exit(f"register svc-{s}-{i}: HTTP {r.status}")


def call(addr, services, instances):
    c = conn(addr)
    bad = 0
    for s in range(services):
        for _ in range(instances):
            c.request("GET", f"/proxy/svc-{s}/x")
            r = c.getresponse()
            r.read()
            bad += r.status != 200
    print(bad)


def scrape(addr, n, path):
    c = conn(addr)
    times, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t0) * 1000)
        size = len(body)
        if r.status != 200:
            sys.exit(f"{path}: HTTP {r.status}")
    times.sort()
    print(f"{size} {times[0]:.1f} {statistics.median(times):.1f} "
          f"{times[int(0.9 * (n - 1))]:.1f} {times[-1]:.1f}")


if __name__ == "__main__":
    what, addr = sys.argv[1], sys.argv[2]
    if what == "register":
        register(addr, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif what == "call":
        call(addr, int(sys.argv[3]), int(sys.argv[4]))
    elif what == "scrape":
        scrape(addr, int(sys.argv[3]), sys.argv[4])
