"""Debian's python3-consul2 against a valmesh node's Consul-compatible API:
register a service with a TTL check, pass it, a blocking health query with
an index, deregister. Usage: python3 python_client.py PORT. Prints one JSON
line per step; exits 1 on the first failed expectation."""
import json
import sys
import threading
import time

import urllib.request

import consul

port = int(sys.argv[1])
c = consul.Consul(host="127.0.0.1", port=port)


def log(step, data=None):
    print(json.dumps({"step": step, "data": data}), flush=True)


assert c.agent.service.register(
    "py-web", service_id="py-web-1", address="127.0.0.1", port=9200,
    tags=["python"], meta={"lang": "py"},
    check=consul.Check.ttl("30s"))
log("registered")
assert "py-web-1" in c.agent.services()

index, nodes = c.health.service("py-web")
assert len(nodes) == 1, nodes
assert nodes[0]["Checks"][-1]["Status"] == "critical", nodes
index, passing = c.health.service("py-web", passing=True)
assert passing == [], passing
log("read", {"index": index})

# A blocking query at the current index returns when the check passes.
result = {}


def watch():
    started = time.monotonic()
    result["index"], result["nodes"] = c.health.service(
        "py-web", index=index, wait="20s", passing=True)
    result["seconds"] = time.monotonic() - started


t = threading.Thread(target=watch)
t.start()
# Once the node holds the query (its /health counts held queries), the
# check passes, and the node answers the query at once.
deadline = time.monotonic() + 5
while True:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as r:
        if json.load(r).get("heldQueries", 0) >= 1:
            break
    assert time.monotonic() < deadline, "the query was never held"
assert t.is_alive(), "the blocking query answered before any change"
assert c.agent.check.ttl_pass("service:py-web-1", notes="fine")
t.join(10)
assert not t.is_alive(), "the blocking query did not answer the change"
assert int(result["index"]) > int(index), result
assert len(result["nodes"]) == 1, result
assert result["nodes"][0]["Service"]["ID"] == "py-web-1", result
log("blocking", {"index": result["index"], "seconds": result["seconds"]})

idx, services = c.catalog.services()
assert services.get("py-web") == ["python"], services
assert c.agent.service.deregister("py-web-1")
index, nodes = c.health.service("py-web")
assert nodes == [], nodes
log("deregistered")
print("ok")
