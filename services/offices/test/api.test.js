// The offices API over HTTP, without Redis: every endpoint and error path, and its own token
// check against every kind of bad token.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { SignJWT } from 'jose';

import { keyPair, listen, memoryLogger, sample, tempDir, testMetrics } from '../../lib/test-support/index.js';
import { createOfficesApp } from '../src/app.js';
import { createNoCache } from '../src/cache.js';
import { createDirectory } from '../src/directory.js';
import { VerifiedTokens, createTokenGuard, keyId, loadVerificationKeys, memoCost } from '@natplat/service-kit';

const AUDIENCE = 'national-platform';
const ISSUER = 'https://auth.test.platform.gov.example';
const DIRECTORY = fileURLToPath(new URL('../data/offices.json', import.meta.url));
const dir = tempDir('offices-test-');
const site = keyPair(dir, 'site');
const stranger = keyPair(dir, 'stranger');

let base;
let service;
let metrics;

function b64url(value) {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

async function token({ key = site.privateKey, audience = AUDIENCE, scope = 'offices.read', exp = '5m', nbf, iat } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope })
    .setProtectedHeader({ alg: 'RS256' })
    .setIssuer(ISSUER)
    .setSubject('portal')
    .setAudience(audience)
    .setIssuedAt(iat ?? now)
    .setNotBefore(nbf ?? now)
    .setExpirationTime(exp)
    .sign(key);
}

async function get(path, bearer) {
  const response = await fetch(`${base}${path}`, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {});
  return { status: response.status, headers: response.headers, body: await response.json() };
}

before(async () => {
  metrics = testMetrics('offices');
  const guard = createTokenGuard({ keySet: await loadVerificationKeys([site.publicFile]), audience: AUDIENCE, issuer: ISSUER, maxLifetimeSeconds: 960 });
  service = createOfficesApp({
    directory: createDirectory({ file: DIRECTORY }),
    cache: createNoCache(),
    guard,
    logger: memoryLogger('offices').logger,
    metrics,
  });
  base = await listen(service);
});

after(() => service.shutdown(1000));

describe('resources', () => {
  test('GET /v1/offices lists every office', async () => {
    const { status, body } = await get('/v1/offices', await token());
    assert.equal(status, 200);
    assert.equal(body.offices.length, 14);
    assert.deepEqual(Object.keys(body.offices[0]).sort(), ['city', 'id', 'name', 'region']);
  });

  test('GET /v1/offices?region= filters', async () => {
    const { body } = await get('/v1/offices?region=north', await token());
    assert.equal(body.offices.length, 4);
    assert.ok(body.offices.every((office) => office.region === 'north'));
  });

  test('GET /v1/offices/:id returns one office in full', async () => {
    const { status, body } = await get('/v1/offices/north-northport-central', await token());
    assert.equal(status, 200);
    assert.equal(body.city, 'Northport');
    assert.ok(Array.isArray(body.services));
  });

  test('an unknown office is 404, a malformed id or region 400', async () => {
    const bearer = await token();
    assert.equal((await get('/v1/offices/north-nowhere', bearer)).status, 404);
    assert.equal((await get('/v1/offices/NOT_AN_ID', bearer)).status, 400);
    assert.equal((await get('/v1/offices?region=North!', bearer)).status, 400);
    assert.equal((await get('/v1/offices?region=a&region=b', bearer)).status, 400);
  });

  test('health endpoints answer without a token; readiness reports the cache state', async () => {
    assert.equal((await get('/healthz')).status, 200);
    const ready = await get('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body.checks, { directory: 'ok', cache: 'disabled' });
  });

  test('metrics carry the route template, never the office id', async () => {
    await get('/v1/offices/coast-seaside-east', await token());
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.ok(sample(text, 'http_requests_total', { route: '/v1/offices/:id', status_code: '200' }) >= 1);
    assert.ok(!text.includes('coast-seaside-east'));
  });
});

describe('the API checks the token itself', () => {
  const rejected = {
    'no token': async () => undefined,
    'a token signed by another key': () => token({ key: stranger.privateKey }),
    'a tampered payload': async () => {
      const [header, , signature] = (await token()).split('.');
      return [header, b64url({ sub: 'portal', aud: AUDIENCE, scope: 'offices.read', exp: 9999999999, nbf: 0 }), signature].join('.');
    },
    'an expired token': () => token({ iat: Math.floor(Date.now() / 1000) - 3600, nbf: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) - 60 }),
    'a token not valid yet': () => token({ nbf: Math.floor(Date.now() / 1000) + 600, exp: Math.floor(Date.now() / 1000) + 1200 }),
    'the wrong audience': () => token({ audience: 'another-platform' }),
    // As strict as Kong: a lifetime longer than the gateway's maximum_expiration, or issued ahead.
    'a token expiring far beyond the allowed lifetime': () => token({ exp: Math.floor(Date.now() / 1000) + 86_400 }),
    'a token issued a year ahead': () => token({ iat: Math.floor(Date.now() / 1000) + 365 * 86_400 }),
    'another issuer': async () => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ scope: 'offices.read' })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer('https://elsewhere.example')
        .setSubject('portal')
        .setAudience(AUDIENCE)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime('5m')
        .sign(site.privateKey);
    },
    'alg: none': async () => {
      const now = Math.floor(Date.now() / 1000);
      return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'portal', aud: AUDIENCE, iss: ISSUER, scope: 'offices.read', nbf: now, exp: now + 300 })}.`;
    },
    'HS256 keyed with the public key (algorithm confusion)': async () => {
      const now = Math.floor(Date.now() / 1000);
      const signingInput = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub: 'portal', aud: AUDIENCE, iss: ISSUER, scope: 'offices.read', nbf: now, exp: now + 300 })}`;
      const mac = createHmac('sha256', site.publicPem).update(signingInput).digest('base64url');
      return `${signingInput}.${mac}`;
    },
  };
  for (const [name, make] of Object.entries(rejected)) {
    test(`refuses ${name} with 401 and a Bearer challenge`, async () => {
      const { status, headers, body } = await get('/v1/offices', await make());
      assert.equal(status, 401);
      assert.match(headers.get('www-authenticate'), /^Bearer/);
      assert.ok(['invalid_token', 'invalid_request'].includes(body.error));
      assert.equal(body.offices, undefined);
    });
  }

  test('the Bearer scheme is case-insensitive (RFC 7235), as at the gateway', async () => {
    const response = await fetch(`${base}/v1/offices`, { headers: { authorization: `bearer ${await token()}` } });
    assert.equal(response.status, 200);
  });

  test('a guard without issuer, audience or maximum lifetime cannot be built', async () => {
    const keySet = await loadVerificationKeys([site.publicFile]);
    assert.throws(() => createTokenGuard({ keySet, audience: AUDIENCE, maxLifetimeSeconds: 960 }), /issuer/);
    assert.throws(() => createTokenGuard({ keySet, issuer: ISSUER, audience: AUDIENCE }), /maximum lifetime/);
  });

  test('a valid token without offices.read is 403 insufficient_scope', async () => {
    const { status, body } = await get('/v1/offices', await token({ scope: 'tax.read' }));
    assert.equal(status, 403);
    assert.equal(body.error, 'insufficient_scope');
  });
});

test('a token shaped as Keycloak issues them is accepted: kid from the key, no nbf, audience list', async () => {
  // What Keycloak 26 puts in an access token (checked against a real Keycloak by
  // tests/test_identity_keycloak.py): typ JWT, kid = base64url(SHA-256(SPKI DER)), no nbf, and
  // the audience as a list that also names its account client.
  const now = Math.floor(Date.now() / 1000);
  const shaped = (kid) =>
    new SignJWT({ scope: 'openid offices.read', azp: 'portal', typ: 'Bearer' })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
      .setIssuer(ISSUER)
      .setSubject('f71d0724-6d84-4580-a4a5-7cfaee51a743')
      .setAudience([AUDIENCE, 'account'])
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(site.privateKey);
  assert.equal((await get('/v1/offices/capital-old-town-east', await shaped(keyId(site.publicKey)))).status, 200);
  const unknown = await get('/v1/offices/capital-old-town-east', await shaped(keyId(stranger.publicKey)));
  assert.equal(unknown.status, 401, 'a kid that names no key of the site is refused');
});

describe('verified tokens are remembered only while they are valid', () => {
  test('the remembered entry is dropped once the token expires or before it is valid', () => {
    const verified = new VerifiedTokens();
    verified.set('a', { exp: 100, nbf: 50 });
    assert.ok(verified.get('a', 99, 0));
    assert.equal(verified.get('a', 100, 0), undefined, 'expired');
    verified.set('b', { exp: 100, nbf: 60 });
    assert.equal(verified.get('b', 59, 0), undefined, 'not valid yet');
  });

  test('the oldest entries go when the byte bound is reached, whatever their count', () => {
    const payload = { exp: 100, nbf: 0 };
    const small = memoCost('a');
    const verified = new VerifiedTokens({ maxBytes: 2 * small });
    verified.set('a', payload);
    verified.set('b', payload);
    verified.set('c', payload);
    assert.equal(verified.get('a', 1, 0), undefined);
    assert.ok(verified.get('b', 1, 0) && verified.get('c', 1, 0));
    assert.equal(verified.bytes, 2 * small);
    // One large token takes the room of many small ones, its payload segment counted twice over.
    assert.equal(memoCost(`h.${'p'.repeat(400)}.s`), 404 + 2 * 300 + memoCost(''));
    const large = 'x'.repeat(small);
    verified.set(large, payload);
    assert.deepEqual([...verified.entries.keys()], [large]);
    assert.ok(verified.bytes <= verified.maxBytes);
    // One larger than the whole bound is never remembered (it is verified every time).
    verified.set('y'.repeat(3 * small), payload);
    assert.deepEqual([...verified.entries.keys()], [large]);
  });

  test('a token accepted once is refused after it expires', async () => {
    const guarded = createOfficesApp({
      directory: createDirectory({ file: DIRECTORY }),
      cache: createNoCache(),
      guard: createTokenGuard({ keySet: await loadVerificationKeys([site.publicFile]), audience: AUDIENCE, issuer: ISSUER, maxLifetimeSeconds: 960, clockToleranceSeconds: 0 }),
      logger: memoryLogger('offices').logger,
      metrics: testMetrics('offices'),
    });
    const url = await listen(guarded);
    try {
      const now = Math.floor(Date.now() / 1000);
      const shortLived = await token({ exp: now + 1 });
      const call = async () => (await fetch(`${url}/v1/offices`, { headers: { authorization: `Bearer ${shortLived}` } })).status;
      assert.equal(await call(), 200);
      await new Promise((resolve) => setTimeout(resolve, (now + 1) * 1000 - Date.now() + 50));
      assert.equal(await call(), 401);
    } finally {
      await guarded.shutdown(1000);
    }
  });
});

describe('a claim of the wrong type is an invalid token, never a principal', () => {
  async function shapedToken(claims) {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 300, sub: 'portal', scope: 'offices.read', ...claims })
      .setProtectedHeader({ alg: 'RS256' })
      .sign(site.privateKey);
  }

  for (const [what, claims] of [
    ['sub is an object', { sub: { id: 'portal' } }],
    ['sub is a number', { sub: 42 }],
    ['sub is empty', { sub: '' }],
    ['scope is a list', { scope: ['offices.read'] }],
    ['scope is an object', { scope: { 'offices.read': true } }],
  ]) {
    test(what, async () => {
      const answer = await get('/v1/offices', await shapedToken(claims));
      assert.equal(answer.status, 401);
      assert.equal(answer.body.error, 'invalid_token');
    });
  }

  test('the same token with well-typed claims passes', async () => {
    assert.equal((await get('/v1/offices', await shapedToken({}))).status, 200);
  });
});
