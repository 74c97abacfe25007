// The auth service as the container runs it: a real process, configured by environment.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { keyPair, spawnService, tempDir } from '../../lib/test-support/index.js';
import { authenticate, hashSecret, loadClients } from '../src/clients.js';

const SERVER = fileURLToPath(new URL('../src/server.js', import.meta.url));
const HASHER = fileURLToPath(new URL('../src/hash-secret.js', import.meta.url));

async function validEnv(dir) {
  const current = keyPair(dir, 'current');
  const previous = keyPair(dir, 'previous');
  const clientsFile = join(dir, 'clients.json');
  writeFileSync(
    clientsFile,
    JSON.stringify([{ id: 'portal', scopes: ['offices.read'], secretHash: await hashSecret('x'.repeat(30)) }]),
  );
  return {
    ISSUER: 'https://auth.test.platform.gov.example',
    AUDIENCE: 'national-platform',
    SIGNING_KEY_FILE: current.privateFile,
    EXTRA_PUBLIC_KEY_FILES: previous.publicFile,
    CLIENTS_FILE: clientsFile,
    PORT: '0',
  };
}

test('a bad environment stops the start with one ECS line naming every bad variable', async () => {
  const dir = tempDir();
  const run = spawnService(SERVER, { ...(await validEnv(dir)), ISSUER: 'not a url', TOKEN_TTL_SECONDS: '5', SIGNING_KEY_FILE: '' });
  assert.equal(await run.started, undefined);
  const { code } = await run.exited;
  assert.equal(code, 1);
  const fatal = run.lines().find((line) => line['log.level'] === 'fatal');
  assert.ok(fatal, run.output());
  assert.match(fatal.message, /ISSUER: must be an absolute URL/);
  assert.match(fatal.message, /TOKEN_TTL_SECONDS: must be at least 60/);
  assert.match(fatal.message, /SIGNING_KEY_FILE: is required/);
});

test('an unreadable clients file is refused at start, naming the file and the entry', async () => {
  const dir = tempDir();
  const env = await validEnv(dir);
  writeFileSync(env.CLIENTS_FILE, JSON.stringify([{ id: 'portal', scopes: ['offices.read'], secretHash: 'plain-text' }]));
  const run = spawnService(SERVER, env);
  assert.equal((await run.exited).code, 1);
  assert.match(run.output(), /clients\.json\[0\]: secretHash is not a scrypt/);
});

test('serves, publishes both keys during a rotation, and drains on SIGTERM', async () => {
  const run = spawnService(SERVER, await validEnv(tempDir()));
  const port = await run.started;
  assert.ok(port, run.output());
  const jwks = await (await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).json();
  assert.equal(jwks.keys.length, 2, 'the current key and the previous one');
  assert.notEqual(jwks.keys[0].kid, jwks.keys[1].kid);
  run.child.kill('SIGTERM');
  const { code } = await run.exited;
  assert.equal(code, 0);
  const actions = run.lines().map((line) => line['event.action'] ?? line.event?.action);
  assert.deepEqual(actions.filter(Boolean).slice(-3), ['signal', 'shutdown', 'stop']);
});

test('hash-secret makes a hash the service accepts, and refuses short secrets', async () => {
  const secret = 'a-long-enough-client-secret-123';
  const hash = execFileSync(process.execPath, [HASHER], { input: secret }).toString().trim();
  assert.match(hash, /^scrypt\$32768\$8\$1\$/);
  const dir = tempDir();
  const file = join(dir, 'clients.json');
  writeFileSync(file, JSON.stringify([{ id: 'batch', scopes: ['offices.read'], secretHash: hash }]));
  const clients = loadClients(file);
  assert.equal((await authenticate(clients, 'batch', secret))?.id, 'batch');
  assert.equal(await authenticate(clients, 'batch', `${secret}x`), undefined);
  assert.throws(() => execFileSync(process.execPath, [HASHER], { input: 'short', stdio: 'pipe' }));
});
