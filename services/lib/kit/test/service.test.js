// The kit every service is built on: configuration checks and graceful shutdown.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { COMMON_SPEC, ConfigError, createService, readConfig } from '@natplat/service-kit';

import { listen, memoryLogger, testMetrics } from '../../test-support/index.js';

test('readConfig applies defaults and reports every bad variable at once, by name', () => {
  const spec = {
    ...COMMON_SPEC,
    issuer: { env: 'ISSUER', type: 'url', required: true },
    keyFile: { env: 'KEY_FILE', type: 'file', required: true },
    redisUrl: { env: 'REDIS_URL', type: 'url', schemes: ['redis:'] },
  };
  assert.deepEqual(
    { ...readConfig({ ISSUER: 'https://auth.example.gov', KEY_FILE: '/etc/hostname' }, spec) },
    { port: 8080, logLevel: 'info', drainDelayMs: 0, shutdownTimeoutMs: 20000, issuer: 'https://auth.example.gov', keyFile: '/etc/hostname', redisUrl: undefined },
  );
  let error;
  try {
    readConfig({ PORT: 'http', LOG_LEVEL: 'loud', KEY_FILE: '/no/such/file', REDIS_URL: 'https://x.example' }, spec);
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(error.problems, [
    'PORT: must be an integer (got "http")',
    'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
    'ISSUER: is required',
    'KEY_FILE: cannot be read (ENOENT) (got "/no/such/file")',
    'REDIS_URL: must use redis: (got "https://x.example")',
  ]);
});

test('a value marked secret is never echoed in the message', () => {
  const spec = { token: { env: 'TOKEN', type: 'int', secret: true } };
  assert.throws(() => readConfig({ TOKEN: 'hunter2-secret' }, spec), (error) => !error.message.includes('hunter2'));
});

test('shutdown stops accepting, reports draining, and lets the in-flight request finish', async () => {
  let release;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  let closed = false;
  const service = createService({
    name: 'drain-test',
    logger: memoryLogger('drain-test').logger,
    metrics: testMetrics('drain-test'),
    routes(app) {
      app.get('/slow', async (req, res) => {
        await gate;
        res.json({ done: true });
      });
    },
    close: async () => {
      closed = true;
    },
  });
  const base = await listen(service);
  const inFlight = fetch(`${base}/slow`);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const stopping = service.shutdown(5000);
  assert.equal(service.state.draining, true);
  await assert.rejects(fetch(`${base}/healthz`), 'a new connection must be refused while draining');
  assert.equal(closed, false, 'dependencies stay open until the drain is over');
  release();
  const response = await inFlight;
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { done: true });
  await stopping;
  assert.equal(closed, true);
});

test('an unhandled error is a 500 with a request id and no stack trace', async () => {
  const logs = memoryLogger('error-test');
  const service = createService({
    name: 'error-test',
    logger: logs.logger,
    metrics: testMetrics('error-test'),
    routes(app) {
      app.get('/boom', () => {
        throw new Error('database password is hunter2');
      });
    },
  });
  const base = await listen(service);
  try {
    const response = await fetch(`${base}/boom`);
    assert.equal(response.status, 500);
    const body = await response.json();
    assert.equal(body.error, 'internal_error');
    assert.ok(body.request_id);
    assert.ok(!JSON.stringify(body).includes('hunter2'));
    const logged = logs.lines().find((line) => line.message === 'unhandled error');
    assert.equal(logged.error.message, 'database password is hunter2', 'the detail goes to the logs only');
  } finally {
    await service.shutdown(1000);
  }
});
