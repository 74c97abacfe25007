// The offices API as the container runs it: a real process configured by environment.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { keyPair, sharedRedisUrl, spawnService, tempDir } from '../../lib/test-support/index.js';

const SERVER = fileURLToPath(new URL('../src/server.js', import.meta.url));

test('a bad environment stops the start and names each variable', async () => {
  const run = spawnService(SERVER, { REDIS_URL: 'http://cache:6379', CACHE_TTL_SECONDS: '0', JWT_AUDIENCE: 'national-platform' });
  assert.equal((await run.exited).code, 1);
  const fatal = run.lines().find((line) => line['log.level'] === 'fatal');
  assert.match(fatal.message, /JWT_PUBLIC_KEY_FILES: is required/);
  assert.match(fatal.message, /REDIS_URL: must use redis: or rediss:/);
  assert.match(fatal.message, /CACHE_TTL_SECONDS: must be at least 1/);
});

test('starts with Redis, serves, and exits 0 on SIGTERM after closing Redis', async () => {
  const dir = tempDir();
  const site = keyPair(dir, 'site');
  const run = spawnService(SERVER, {
    PORT: '0',
    JWT_PUBLIC_KEY_FILES: site.publicFile,
    JWT_AUDIENCE: 'national-platform',
    REDIS_URL: sharedRedisUrl(),
  });
  const port = await run.started;
  assert.ok(port, run.output());
  const ready = await (await fetch(`http://127.0.0.1:${port}/readyz`)).json();
  assert.equal(ready.checks.directory, 'ok');
  run.child.kill('SIGTERM');
  assert.equal((await run.exited).code, 0);
  const actions = run.lines().map((line) => line['event.action'] ?? line.event?.action).filter(Boolean);
  assert.deepEqual(actions.slice(-3), ['signal', 'shutdown', 'stop']);
});
