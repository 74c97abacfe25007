// The offices API as the container runs it: a real process configured by environment.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
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
    JWT_ISSUER: 'https://auth.test.platform.gov.example',
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

function fatalOf(run) {
  const fatal = run.lines().filter((line) => line['log.level'] === 'fatal');
  assert.equal(fatal.length, 1, run.output());
  const loose = run.output().split('\n').filter((line) => line.trim() && !line.startsWith('{'));
  assert.deepEqual(loose, [], 'nothing but ECS lines: no raw stack trace');
  return fatal[0].message;
}

const GOOD = { JWT_AUDIENCE: 'national-platform', JWT_ISSUER: 'https://auth.test.platform.gov.example' };

test('without its issuer the API refuses to start, naming the variable', async () => {
  const site = keyPair(tempDir(), 'site');
  const run = spawnService(SERVER, { PORT: '0', JWT_PUBLIC_KEY_FILES: site.publicFile, JWT_AUDIENCE: 'national-platform' });
  assert.equal((await run.exited).code, 1);
  assert.match(fatalOf(run), /JWT_ISSUER: is required/);
});

test('a public key file that is not PEM names the variable and the file', async () => {
  const dir = tempDir();
  const bad = join(dir, 'not-a-key.pem');
  writeFileSync(bad, 'hello');
  const run = spawnService(SERVER, { PORT: '0', JWT_PUBLIC_KEY_FILES: bad, ...GOOD });
  assert.equal((await run.exited).code, 1);
  const message = fatalOf(run);
  assert.match(message, /JWT_PUBLIC_KEY_FILES/);
  assert.ok(message.includes(bad), message);
});

test('a 1024-bit RSA key is refused at start', async () => {
  const weak = keyPair(tempDir(), 'weak', 1024);
  const run = spawnService(SERVER, { PORT: '0', JWT_PUBLIC_KEY_FILES: weak.publicFile, ...GOOD });
  assert.equal((await run.exited).code, 1);
  assert.match(fatalOf(run), /1024-bit RSA key; at least 2048 bits are required/);
});

test('a port already in use is one ECS fatal line and exit 1, not a stack trace', async () => {
  const taken = createServer();
  await new Promise((resolve) => taken.listen(0, resolve));
  try {
    const site = keyPair(tempDir(), 'site');
    const run = spawnService(SERVER, { PORT: String(taken.address().port), JWT_PUBLIC_KEY_FILES: site.publicFile, ...GOOD });
    assert.equal((await run.exited).code, 1);
    assert.match(fatalOf(run), /cannot listen on port \d+ \(PORT\): the port is already in use/);
  } finally {
    taken.close();
  }
});

test('keys from a folder: every .pem in it, so a pod restarted mid-rotation starts with the keys it holds now', async () => {
  const dir = tempDir();
  const folder = join(dir, 'jwt-public-keys');
  mkdirSync(folder);
  const primary = keyPair(dir, 'primary');
  const next = keyPair(dir, 'next');
  copyFileSync(primary.publicFile, join(folder, 'primary.pem'));
  copyFileSync(next.publicFile, join(folder, 'next.pem'));
  const env = { PORT: '0', JWT_PUBLIC_KEY_FILES: folder, REDIS_URL: sharedRedisUrl(), ...GOOD };
  // Serving, then stopped cleanly (its health answered first: the signal handlers are in place).
  async function startsAndServes() {
    const run = spawnService(SERVER, env);
    const port = await run.started;
    assert.ok(port, run.output());
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    run.child.kill('SIGTERM');
    assert.equal((await run.exited).code, 0, run.output());
  }
  await startsAndServes();
  // The rotation's last step removes the old key from the ConfigMap: the same template starts.
  rmSync(join(folder, 'primary.pem'));
  await startsAndServes();
  // A folder without a key is refused at start, naming the variable.
  rmSync(join(folder, 'next.pem'));
  const none = spawnService(SERVER, env);
  assert.equal((await none.exited).code, 1);
  assert.match(fatalOf(none), /JWT_PUBLIC_KEY_FILES: .*holds no \.pem file/);
});
