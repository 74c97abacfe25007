// Rolling restarts under load, as Kubernetes does them: a new process starts, then the old one
// gets SIGTERM while its endpoint is removed, asynchronously, some time later (here up to
// ENDPOINT_LAG_MS; the gateway and kube-proxy stop routing to it only then). Clients call
// continuously through a router that plays that part, over kept-alive connections and over a new
// connection per request. Not one request may be lost: every request routed to a process,
// before or after its SIGTERM, is answered.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { spawnService } from '../../test-support/index.js';

const SERVER = fileURLToPath(new URL('./fixtures/work-server.js', import.meta.url));
const RESTARTS = Number(process.env.RESTART_TEST_RESTARTS ?? 20);
const DRAIN_DELAY_MS = 400; // the service's DRAIN_DELAY_MS (the Deployment sets 5 s)
const ENDPOINT_LAG_MS = 250; // how late the router stops routing after SIGTERM: below the delay
const TIME_LIMIT_MS = 90_000;
const REQUEST_LIMIT = 200_000;

async function start() {
  const run = spawnService(SERVER, { PORT: '0', DRAIN_DELAY_MS: String(DRAIN_DELAY_MS), WORK_MS: '3' });
  const port = await run.started;
  assert.ok(port, run.output());
  return { run, port, agent: new Agent({ keepAlive: true, maxSockets: 4 }) };
}

function call(backend, keepAlive) {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: backend.port, path: '/work', agent: keepAlive ? backend.agent : false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 ? null : `status ${res.statusCode}`));
        res.on('error', (error) => resolve(error.code ?? error.message));
      },
    );
    req.on('error', (error) => resolve(error.code ?? error.message));
    req.end();
  });
}

test(`${RESTARTS} rolling restarts under keep-alive and new-connection load lose no request`, { timeout: TIME_LIMIT_MS + 30_000 }, async () => {
  const router = { backends: [await start()], next: 0 };
  const tally = { keepAlive: { sent: 0, lost: [] }, newConnection: { sent: 0, lost: [] } };
  let running = true;
  const deadline = Date.now() + TIME_LIMIT_MS;
  async function client(kind) {
    const keepAlive = kind === 'keepAlive';
    while (running && Date.now() < deadline && tally[kind].sent < REQUEST_LIMIT) {
      const backend = router.backends[router.next++ % router.backends.length];
      tally[kind].sent += 1;
      const lost = await call(backend, keepAlive);
      if (lost) tally[kind].lost.push(`${lost} (pid ${backend.run.child.pid})`);
    }
  }
  const clients = [...Array(6).fill('keepAlive'), ...Array(3).fill('newConnection')].map(client);
  const sentBefore = [];
  for (let restart = 0; restart < RESTARTS && Date.now() < deadline; restart += 1) {
    const old = router.backends[0];
    const fresh = await start();
    router.backends.push(fresh);
    await new Promise((resolve) => setTimeout(resolve, 100)); // both serve for a while
    sentBefore.push(tally.keepAlive.sent + tally.newConnection.sent);
    old.run.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, Math.random() * ENDPOINT_LAG_MS));
    router.backends = router.backends.filter((b) => b !== old);
    const { code } = await old.run.exited;
    assert.equal(code, 0, old.run.output());
    old.agent.destroy();
  }
  running = false;
  await Promise.all(clients);
  for (const backend of router.backends) {
    backend.run.child.kill('SIGTERM');
    await backend.run.exited;
    backend.agent.destroy();
  }
  assert.equal(sentBefore.length, RESTARTS, `only ${sentBefore.length} restarts within ${TIME_LIMIT_MS} ms`);
  assert.ok(tally.keepAlive.sent > 20 * RESTARTS && tally.newConnection.sent > 10 * RESTARTS, JSON.stringify(tally));
  assert.deepEqual(tally.keepAlive.lost, [], `keep-alive: ${tally.keepAlive.lost.length} of ${tally.keepAlive.sent} lost`);
  assert.deepEqual(tally.newConnection.lost, [], `new connections: ${tally.newConnection.lost.length} of ${tally.newConnection.sent} lost`);
  console.log(`restarts: ${RESTARTS}; keep-alive requests: ${tally.keepAlive.sent}, new-connection requests: ${tally.newConnection.sent}; lost: 0`);
});
