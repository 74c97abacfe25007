// Hostile and malformed requests: every error raised before a service's handlers is the client's
// mistake, answered with its 4xx in the one error shape; a 500 is kept for our own bugs.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';

import express from 'express';

import { createService } from '@natplat/service-kit';

import { listen, memoryLogger, testMetrics } from '../../test-support/index.js';

function serviceWithBodies() {
  const logs = memoryLogger('hostile');
  const service = createService({
    name: 'hostile',
    logger: logs.logger,
    metrics: testMetrics('hostile'),
    routes(app) {
      const form = express.urlencoded({ extended: false, parameterLimit: 10, limit: '1kb' });
      const json = express.json({ limit: '1kb' });
      app.post('/form', form, (req, res) => res.json({ keys: Object.keys(req.body ?? {}).length }));
      app.post('/json', json, (req, res) => res.json({ ok: true }));
      app.get('/items/:id', (req, res) => res.json({ id: req.params.id }));
      app.put('/items/:id', (req, res) => res.json({ id: req.params.id }));
    },
  });
  return { service, logs };
}

/** A raw request: fetch would refuse to send some of these. */
function raw(base, { method = 'POST', path, headers = {}, body = '' }) {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const CASES = [
  ['unsupported charset', { path: '/form', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=klingon' }, body: 'a=1' }, 415],
  ['unsupported content-encoding', { path: '/json', headers: { 'content-type': 'application/json', 'content-encoding': 'snappy' }, body: '{}' }, 415],
  ['too many form parameters', { path: '/form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Array.from({ length: 20 }, (_, i) => `k${i}=v`).join('&') }, 413],
  ['body too large', { path: '/json', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 'x'.repeat(4000) }) }, 413],
  ['malformed JSON', { path: '/json', headers: { 'content-type': 'application/json' }, body: '{"a":' }, 400],
  ['bad percent-escape in the path', { method: 'GET', path: '/items/%E0%A4%A' }, 400],
  ['gzip that is not gzip', { path: '/json', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: 'not gzip at all' }, 400],
];

for (const [name, options, status] of CASES) {
  test(`${name} is a ${status} in the error shape, not a 500`, async () => {
    const { service, logs } = serviceWithBodies();
    const base = await listen(service);
    try {
      const response = await raw(base, options);
      assert.equal(response.status, status);
      assert.equal(typeof response.body.error, 'string');
      assert.equal(typeof response.body.error_description, 'string');
      assert.deepEqual(Object.keys(response.body).sort(), ['error', 'error_description']);
      assert.ok(!logs.lines().some((line) => line.message === 'unhandled error'), 'not logged as our bug');
    } finally {
      await service.shutdown(1000);
    }
  });
}

test('a known route with another method is a 405 with Allow; an unknown one a 404, same shape', async () => {
  const { service } = serviceWithBodies();
  const base = await listen(service);
  try {
    const wrong = await fetch(`${base}/items/7`, { method: 'DELETE' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET, HEAD, PUT');
    assert.deepEqual(Object.keys(await wrong.json()).sort(), ['error', 'error_description']);
    const missing = await fetch(`${base}/nowhere`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: 'not_found', error_description: 'no route for GET /nowhere' });
    const probes = await fetch(`${base}/healthz`, { method: 'POST' });
    assert.equal(probes.status, 405);
  } finally {
    await service.shutdown(1000);
  }
});
