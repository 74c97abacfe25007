import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

import { keyPair, listen, memoryLogger, sample, tempDir, testMetrics } from '../../lib/test-support/index.js';
import { createAuthApp } from '../src/app.js';
import { hashSecret, loadClients } from '../src/clients.js';
import { loadKeys } from '../src/keys.js';

const ISSUER = 'https://auth.test.platform.gov.example';
const AUDIENCE = 'national-platform';
const PORTAL_SECRET = 'portal-secret-0123456789-abcdef';
const BATCH_SECRET = 'batch-secret-0123456789-abcdefgh';

let base;
let service;
let logs;
let keys;
const dir = tempDir('auth-test-');

function form(fields) {
  return new URLSearchParams(fields).toString();
}

function basic(id, secret) {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function tokenRequest({ body, headers = {} }) {
  const response = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

before(async () => {
  const pair = keyPair(dir);
  const clientsFile = join(dir, 'clients.json');
  writeFileSync(
    clientsFile,
    JSON.stringify([
      { id: 'portal', scopes: ['offices.read'], secretHash: await hashSecret(PORTAL_SECRET) },
      { id: 'batch', scopes: ['offices.read', 'offices.write'], secretHash: await hashSecret(BATCH_SECRET) },
    ]),
  );
  keys = await loadKeys({ signingKeyFile: pair.privateFile });
  logs = memoryLogger('auth');
  service = createAuthApp({
    config: { issuer: ISSUER, audience: AUDIENCE, tokenTtlSeconds: 900 },
    keys,
    clients: loadClients(clientsFile),
    logger: logs.logger,
    metrics: testMetrics('auth'),
  });
  base = await listen(service);
});

after(() => service.shutdown(1000));

describe('POST /oauth/token issues RS256 access tokens', () => {
  test('client_secret_basic: every claim the gateway and the APIs rely on', async () => {
    const started = Math.floor(Date.now() / 1000);
    const { status, headers, body } = await tokenRequest({
      body: form({ grant_type: 'client_credentials' }),
      headers: { authorization: basic('portal', PORTAL_SECRET) },
    });
    assert.equal(status, 200);
    assert.equal(headers.get('cache-control'), 'no-store');
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 900);
    assert.equal(body.scope, 'offices.read');
    const header = decodeProtectedHeader(body.access_token);
    assert.equal(header.alg, 'RS256');
    assert.equal(header.kid, keys.kid);
    assert.equal(header.typ, 'JWT', "Kong's jwt plugin rejects any other typ");
    const { payload } = await jwtVerify(body.access_token, createLocalJWKSet(keys.jwks), {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['RS256'],
    });
    assert.equal(payload.sub, 'portal');
    assert.equal(payload.scope, 'offices.read');
    assert.ok(payload.iat >= started && payload.nbf === payload.iat);
    assert.equal(payload.exp - payload.iat, 900);
    assert.match(payload.jti, /^[0-9a-f-]{36}$/);
  });

  test('client_secret_post works the same', async () => {
    const { status, body } = await tokenRequest({
      body: form({ grant_type: 'client_credentials', client_id: 'batch', client_secret: BATCH_SECRET }),
    });
    assert.equal(status, 200);
    assert.equal(body.scope, 'offices.read offices.write');
  });

  test('a client may ask for fewer scopes than it holds', async () => {
    const { status, body } = await tokenRequest({
      body: form({ grant_type: 'client_credentials', client_id: 'batch', client_secret: BATCH_SECRET, scope: 'offices.write' }),
    });
    assert.equal(status, 200);
    assert.equal(body.scope, 'offices.write');
  });
});

describe('POST /oauth/token refuses with RFC 6749 errors', () => {
  const cases = [
    {
      name: 'wrong secret (Basic): 401 invalid_client with a Basic challenge',
      body: form({ grant_type: 'client_credentials' }),
      headers: { authorization: basic('portal', 'not-the-secret-at-all-000000') },
      status: 401,
      error: 'invalid_client',
      challenge: true,
    },
    {
      name: 'unknown client: the same answer as a wrong secret',
      body: form({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: PORTAL_SECRET }),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'no client credentials at all',
      body: form({ grant_type: 'client_credentials' }),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'a malformed Basic header',
      body: form({ grant_type: 'client_credentials' }),
      headers: { authorization: 'Basic !!!' },
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'two authentication methods at once',
      body: form({ grant_type: 'client_credentials', client_id: 'portal', client_secret: PORTAL_SECRET }),
      headers: { authorization: basic('portal', PORTAL_SECRET) },
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'unsupported grant type',
      body: form({ grant_type: 'password', client_id: 'portal', client_secret: PORTAL_SECRET }),
      status: 400,
      error: 'unsupported_grant_type',
    },
    {
      name: 'missing grant type',
      body: form({ client_id: 'portal', client_secret: PORTAL_SECRET }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'a scope the client does not hold',
      body: form({ grant_type: 'client_credentials', client_id: 'portal', client_secret: PORTAL_SECRET, scope: 'offices.write' }),
      status: 400,
      error: 'invalid_scope',
    },
    {
      name: 'a parameter given twice',
      body: 'grant_type=client_credentials&grant_type=client_credentials&client_id=portal&client_secret=x',
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'a JSON body instead of a form',
      body: JSON.stringify({ grant_type: 'client_credentials' }),
      headers: { 'content-type': 'application/json' },
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'a body over the size limit',
      body: form({ grant_type: 'client_credentials', client_id: 'portal', client_secret: 'x'.repeat(8000) }),
      status: 413,
      error: 'request_too_large',
    },
  ];
  for (const { name, body, headers, status, error, challenge } of cases) {
    test(name, async () => {
      const response = await tokenRequest({ body, headers });
      assert.equal(response.status, status);
      assert.equal(response.body.error, error);
      assert.equal(typeof response.body.error_description, 'string');
      assert.equal(response.body.access_token, undefined);
      if (challenge) assert.match(response.headers.get('www-authenticate'), /^Basic /);
    });
  }

  test('GET on the token endpoint is 405 with Allow: POST', async () => {
    const response = await fetch(`${base}/oauth/token`);
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'POST');
  });
});

describe('the other endpoints', () => {
  test('JWKS publishes the public key under the kid tokens carry, and no private part', async () => {
    const response = await fetch(`${base}/.well-known/jwks.json`);
    assert.equal(response.status, 200);
    const { keys: published } = await response.json();
    assert.equal(published.length, 1);
    assert.equal(published[0].kid, keys.kid);
    assert.equal(published[0].alg, 'RS256');
    assert.equal(published[0].use, 'sig');
    for (const privatePart of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(published[0][privatePart], undefined);
  });

  test('healthz, readyz and an unknown route', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await ready.json()).checks.clients, '2 loaded');
    const missing = await fetch(`${base}/nowhere`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error, 'not_found');
  });

  test('metrics count tokens, refusals and requests by route template', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.ok(sample(text, 'auth_tokens_issued_total', { client: 'portal', service: 'auth' }) >= 1);
    assert.ok(sample(text, 'auth_token_requests_refused_total', { error: 'invalid_client' }) >= 1);
    const tokenRoute = { method: 'POST', route: '/oauth/token', status_code: '200' };
    assert.ok(sample(text, 'http_requests_total', tokenRoute) >= 1);
    assert.ok(sample(text, 'http_request_duration_seconds_bucket', { ...tokenRoute, le: '+Inf' }) >= 1);
    assert.equal(sample(text, 'http_requests_total', { route: '/nowhere' }), undefined, 'raw paths must not become labels');
    assert.ok(sample(text, 'http_requests_total', { route: 'unmatched', status_code: '404' }) >= 1);
    assert.ok(sample(text, 'process_cpu_seconds_total') > 0);
  });

  test('logs are ECS JSON and never carry a secret or a token', async () => {
    const { body } = await tokenRequest({
      body: form({ grant_type: 'client_credentials', client_id: 'portal', client_secret: PORTAL_SECRET }),
    });
    const lines = logs.lines();
    const access = lines.find((line) => line.url?.path === '/oauth/token' && line.http?.response?.status_code === 200);
    assert.ok(access, 'an access log line for the token request');
    assert.ok(access['@timestamp'] && access['log.level'] && access['ecs.version']);
    assert.equal(access['service.name'], 'auth');
    assert.equal(access.url.route, '/oauth/token');
    const text = logs.text();
    assert.ok(!text.includes(PORTAL_SECRET) && !text.includes(BATCH_SECRET), 'a client secret was logged');
    assert.ok(!text.includes(body.access_token.split('.')[2]), 'an access token was logged');
  });
});
