// The `consul` npm client (pinned by package-lock.json) against a valmesh
// node's Consul-compatible API: registers a service with a TTL check,
// watches its health, passes / warns / fails the check, reads it through the
// catalog and health (`passing`), and deregisters it. The watch must see
// exactly one change per status change and one for the deregistration.
// Usage: node npm_client.js PORT. Prints one JSON line per step; exits 1 on
// the first failed expectation.
"use strict";
const assert = require("assert");
const Consul = require("consul");

const port = Number(process.argv[2]);
const consul = new Consul({ host: "127.0.0.1", port });

function log(step, data) {
  console.log(JSON.stringify({ step, data }));
}

async function main() {
  await consul.agent.service.register({
    name: "npm-web",
    id: "npm-web-1",
    address: "127.0.0.1",
    port: 9100,
    tags: ["node", "v2"],
    meta: { owner: "npm" },
    check: { ttl: "30s", deregistercriticalserviceafter: "1m" },
  });
  log("registered");

  const services = await consul.agent.service.list();
  assert.ok(services["npm-web-1"], "agent.service.list has the service");
  assert.strictEqual(services["npm-web-1"].Service, "npm-web");
  assert.strictEqual(services["npm-web-1"].Port, 9100);

  // A watch on the service's health: every change arrives in order.
  const changes = [];
  let waiting = null;
  const watch = consul.watch({
    method: consul.health.service,
    options: { service: "npm-web", wait: "10s" },
  });
  watch.on("change", (data) => {
    const status =
      data.length === 0 ? "gone" : data[0].Checks[data[0].Checks.length - 1].Status;
    changes.push(status);
    log("change", status);
    if (waiting) waiting();
  });
  watch.on("error", (err) => log("watch-error", String(err)));
  const nextChange = (count) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no change #${count} within 5s: ${changes}`)),
        5000,
      );
      const check = () => {
        if (changes.length >= count) {
          clearTimeout(timer);
          waiting = null;
          resolve();
        }
      };
      waiting = check;
      check();
    });

  await nextChange(1);
  assert.deepStrictEqual(changes, ["critical"]);
  await consul.agent.check.pass({ id: "service:npm-web-1", note: "ok" });
  await nextChange(2);
  const passing = await consul.health.service({
    service: "npm-web",
    passing: true,
  });
  assert.strictEqual(passing.length, 1, "health passing has the instance");
  assert.strictEqual(passing[0].Service.ID, "npm-web-1");
  assert.strictEqual(passing[0].Node.Datacenter, "dc1");
  const catalog = await consul.catalog.service.nodes("npm-web");
  assert.strictEqual(catalog.length, 1);
  assert.strictEqual(catalog[0].ServiceID, "npm-web-1");
  assert.strictEqual(catalog[0].ServicePort, 9100);
  assert.deepStrictEqual(catalog[0].ServiceTags, ["node", "v2"]);
  const names = await consul.catalog.service.list();
  assert.deepStrictEqual(names["npm-web"], ["node", "v2"]);
  log("read", { passing: passing.length, catalog: catalog.length });

  await consul.agent.check.warn({ id: "service:npm-web-1", note: "slow" });
  await nextChange(3);
  const none = await consul.health.service({ service: "npm-web", passing: true });
  assert.strictEqual(none.length, 0, "a warning instance is not passing");
  await consul.agent.check.fail({ id: "service:npm-web-1", note: "down" });
  await nextChange(4);
  await consul.agent.service.deregister("npm-web-1");
  await nextChange(5);
  assert.deepStrictEqual(changes, [
    "critical",
    "passing",
    "warning",
    "critical",
    "gone",
  ]);
  // No change arrives without a write (the watch stays quiet).
  await new Promise((r) => setTimeout(r, 1500));
  watch.end();
  assert.strictEqual(changes.length, 5, `extra changes: ${changes}`);
  log("done", changes);
}

main().catch((err) => {
  console.error(String(err && err.stack ? err.stack : err));
  process.exit(1);
});
