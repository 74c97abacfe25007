// Graceful shutdown under keep-alive traffic: every request sent before the drain is answered,
// keep-alive clients are told to go, and the service stops as soon as the last response is out.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { test } from 'node:test';

import { createService } from '@natplat/service-kit';

import { listen, memoryLogger, testMetrics } from '../../test-support/index.js';

const CLIENTS = 16;

function get(agent, base, path) {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: url.hostname, port: url.port, path: url.pathname }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('16 keep-alive clients: every in-flight request is answered with Connection: close, then the service stops', async () => {
  let delay = 5;
  const service = createService({
    name: 'drain',
    logger: memoryLogger('drain').logger,
    metrics: testMetrics('drain'),
    routes(app) {
      app.get('/work', async (req, res) => {
        await new Promise((resolve) => setTimeout(resolve, delay));
        res.json({ done: true });
      });
    },
  });
  const base = await listen(service);
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  // Warm every keep-alive connection.
  await Promise.all(Array.from({ length: CLIENTS }, () => get(agent, base, '/work')));
  assert.equal(Object.values(agent.freeSockets).flat().length, CLIENTS, 'sixteen idle keep-alive sockets');
  delay = 300;
  const inFlight = Array.from({ length: CLIENTS }, () => get(agent, base, '/work'));
  await new Promise((resolve) => setTimeout(resolve, 50)); // sent, not yet answered
  const started = Date.now();
  await service.shutdown(10_000);
  const took = Date.now() - started;
  const results = await Promise.allSettled(inFlight);
  assert.deepEqual(results.map((r) => r.status), Array(CLIENTS).fill('fulfilled'), 'no request dropped');
  assert.deepEqual(results.map((r) => r.value.status), Array(CLIENTS).fill(200));
  assert.deepEqual(results.map((r) => r.value.connection), Array(CLIENTS).fill('close'), 'clients told to go');
  assert.ok(took < 2000, `stopped ${took} ms after the drain began, not at the 10 s timeout`);
  await assert.rejects(get(agent, base, '/work'), 'no new request after the drain');
  agent.destroy();
});

test('a request sent on an idle keep-alive socket during the drain is served, with Connection: close', async () => {
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const service = createService({
    name: 'drain-idle',
    logger: memoryLogger('drain-idle').logger,
    metrics: testMetrics('drain-idle'),
    routes(app) {
      app.get('/slow', async (req, res) => {
        await gate;
        res.json({ done: true });
      });
      app.get('/fast', (req, res) => res.json({ done: true }));
    },
  });
  const base = await listen(service);
  const busy = new Agent({ keepAlive: true, maxSockets: 1 });
  const idle = new Agent({ keepAlive: true, maxSockets: 1 });
  await get(idle, base, '/fast'); // an idle keep-alive socket
  const slow = get(busy, base, '/slow');
  await new Promise((resolve) => setTimeout(resolve, 30));
  const stopping = service.shutdown(10_000);
  const late = await get(idle, base, '/fast'); // on the idle socket, while the slow one drains
  assert.equal(late.status, 200);
  assert.equal(late.connection, 'close');
  release();
  assert.equal((await slow).connection, 'close');
  await stopping;
  busy.destroy();
  idle.destroy();
});

test('a drain that outlives its timeout cuts the connections and still stops', async () => {
  const service = createService({
    name: 'drain-timeout',
    logger: memoryLogger('drain-timeout').logger,
    metrics: testMetrics('drain-timeout'),
    routes(app) {
      app.get('/never', () => {});
    },
  });
  const base = await listen(service);
  const hanging = fetch(`${base}/never`).catch((error) => error);
  await new Promise((resolve) => setTimeout(resolve, 30));
  const started = Date.now();
  await service.shutdown(300);
  assert.ok(Date.now() - started < 1500);
  assert.ok((await hanging) instanceof Error);
});
