// Cache-aside against a real redis-server on loopback: hits and misses, TTLs, authentication,
// and the API staying correct (no 500s) when Redis is unreachable or dies mid-way.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { createClient } from '@redis/client';
import { SignJWT } from 'jose';

import { keyPair, listen, memoryLogger, sample, sharedRedisUrl, startRedis, tempDir, testMetrics } from '../../lib/test-support/index.js';
import { createOfficesApp } from '../src/app.js';
import { createRedisCache } from '../src/cache.js';
import { createDirectory } from '../src/directory.js';
import { createTokenGuard, loadVerificationKeys } from '@natplat/service-kit';

const AUDIENCE = 'national-platform';
const ISSUER = 'https://auth.test.platform.gov.example';
const DIRECTORY = fileURLToPath(new URL('../data/offices.json', import.meta.url));
const site = keyPair(tempDir('offices-cache-'), 'site');
let bearer;

async function waitFor(predicate, ms = 3000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('condition not met in time');
}

/** An offices API wired to Redis at `url`; `stop()` shuts it down. */
async function apiWith({ url, password, ttlSeconds = 60, timeoutMs = 100, clientName, nearTtlMs = 0 }) {
  const metrics = testMetrics('offices');
  const logs = memoryLogger('offices');
  const cache = createRedisCache({ url, password, ttlSeconds, timeoutMs, logger: logs.logger, metrics, clientName, nearTtlMs });
  cache.start();
  const service = createOfficesApp({
    directory: createDirectory({ file: DIRECTORY }),
    cache,
    guard: createTokenGuard({ keySet: await loadVerificationKeys([site.publicFile]), audience: AUDIENCE, issuer: ISSUER, maxLifetimeSeconds: 960 }),
    logger: logs.logger,
    metrics,
  });
  const base = await listen(service);
  return {
    base,
    cache,
    logs,
    get: async (path) => {
      const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${bearer}` } });
      return { status: response.status, body: await response.json() };
    },
    count: async (operation, result) =>
      sample(await (await fetch(`${base}/metrics`)).text(), 'offices_cache_operations_total', { operation, result }) ?? 0,
    stop: () => service.shutdown(1000),
  };
}

before(async () => {
  bearer = await new SignJWT({ scope: 'offices.read' })
    .setProtectedHeader({ alg: 'RS256' })
    .setIssuer(ISSUER)
    .setSubject('portal')
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime('10m')
    .sign(site.privateKey);
});

describe('with the shared Redis', () => {
  let api;
  let inspect;

  before(async () => {
    inspect = createClient({ url: sharedRedisUrl() });
    await inspect.connect();
    await inspect.flushAll();
    api = await apiWith({ url: sharedRedisUrl(), ttlSeconds: 30 });
    await waitFor(async () => (await api.cache.status()) === 'up');
  });

  after(async () => {
    await api.stop();
    await inspect.close();
  });

  test('a miss loads from the directory and stores with the TTL; the next read is a hit', async () => {
    const first = await api.get('/v1/offices/coast-harbourton-central');
    assert.equal(first.status, 200);
    assert.equal(await api.count('get', 'miss'), 1);
    assert.equal(await api.count('set', 'stored'), 1);
    const ttl = await inspect.ttl('offices:v1:office:coast-harbourton-central');
    assert.ok(ttl > 0 && ttl <= 30, `TTL ${ttl}`);
    const second = await api.get('/v1/offices/coast-harbourton-central');
    assert.deepEqual(second.body, first.body);
    assert.equal(await api.count('get', 'hit'), 1);
  });

  test('a hit is served from Redis, not from the directory', async () => {
    const marker = { id: 'capital-old-town-central', name: 'from the cache', region: 'capital' };
    await inspect.set('offices:v1:office:capital-old-town-central', JSON.stringify(marker), { expiration: { type: 'EX', value: 30 } });
    assert.deepEqual((await api.get('/v1/offices/capital-old-town-central')).body, marker);
  });

  test('lists are cached per region, and absent offices are not cached', async () => {
    assert.equal((await api.get('/v1/offices?region=coast')).body.offices.length, 4);
    assert.ok((await inspect.ttl('offices:v1:list:coast')) > 0);
    assert.equal((await api.get('/v1/offices/coast-nowhere')).status, 404);
    assert.equal(await inspect.exists('offices:v1:office:coast-nowhere'), 0);
  });

  test('a cached value that is not JSON is a cache fault: answered from the directory, never a 500', async () => {
    await inspect.set('offices:v1:office:coast-harbourton-central', 'not json {', { expiration: { type: 'EX', value: 30 } });
    const errorsBefore = (await api.count('get', 'error')) ?? 0;
    const response = await api.get('/v1/offices/coast-harbourton-central');
    assert.equal(response.status, 200);
    assert.equal(response.body.id, 'coast-harbourton-central');
    assert.equal(await api.count('get', 'error'), errorsBefore + 1);
  });

  for (const [what, cached] of [
    ['false', false],
    ['a string', 'coast-harbourton-central'],
    ['a number', 7],
    ['a list', [{ id: 'coast-harbourton-central' }]],
    ['another office', { id: 'capital-old-town-central', name: 'Capital', region: 'capital' }],
    ['an office without its name', { id: 'coast-harbourton-central', region: 'coast' }],
  ]) {
    test(`a cached office that is valid JSON of the wrong shape (${what}) is a miss, and is replaced`, async () => {
      const key = 'offices:v1:office:coast-harbourton-central';
      await inspect.set(key, JSON.stringify(cached), { expiration: { type: 'EX', value: 30 } });
      const invalidBefore = await api.count('get', 'invalid');
      const response = await api.get('/v1/offices/coast-harbourton-central');
      assert.equal(response.status, 200);
      assert.equal(response.body.id, 'coast-harbourton-central');
      assert.equal(response.body.name, 'Harbourton Central Citizen Office');
      assert.equal(await api.count('get', 'invalid'), invalidBefore + 1);
      assert.equal(JSON.parse(await inspect.get(key)).id, 'coast-harbourton-central', 'the directory answer is stored');
    });
  }

  test('a cached list of the wrong shape or of another region is a miss', async () => {
    for (const cached of [{ offices: [] }, [{ id: 'capital-old-town-central', name: 'x', region: 'capital' }], [null]]) {
      await inspect.set('offices:v1:list:coast', JSON.stringify(cached), { expiration: { type: 'EX', value: 30 } });
      const response = await api.get('/v1/offices?region=coast');
      assert.equal(response.status, 200);
      assert.equal(response.body.offices.length, 4);
      assert.ok(response.body.offices.every((office) => office.region === 'coast'));
    }
  });

  test('questions about unknown regions create no key in the Redis Kong shares', async () => {
    for (let i = 0; i < 50; i += 1) {
      const answer = await api.get(`/v1/offices?region=nowhere-${i}`);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.offices, []);
    }
    assert.deepEqual(await inspect.keys('offices:v1:list:nowhere-*'), []);
  });

  test('the near cache answers a hot entry without a Redis round trip, for its TTL only', async () => {
    const hot = await apiWith({ url: sharedRedisUrl(), ttlSeconds: 30, nearTtlMs: 300 });
    try {
      await waitFor(async () => (await hot.cache.status()) === 'up');
      await hot.get('/v1/offices/capital-old-town-central'); // a Redis hit (or miss), kept near
      const redisReads = (await hot.count('get', 'hit')) + (await hot.count('get', 'miss'));
      for (let i = 0; i < 20; i += 1) assert.equal((await hot.get('/v1/offices/capital-old-town-central')).status, 200);
      assert.equal(await hot.count('get', 'near_hit'), 20);
      assert.equal((await hot.count('get', 'hit')) + (await hot.count('get', 'miss')), redisReads, 'no Redis read');
      await new Promise((resolve) => setTimeout(resolve, 350));
      await hot.get('/v1/offices/capital-old-town-central');
      assert.equal((await hot.count('get', 'hit')) + (await hot.count('get', 'miss')), redisReads + 1, 'expired: Redis read again');
    } finally {
      await hot.stop();
    }
  });

  test('readiness reports the cache up', async () => {
    const response = await fetch(`${api.base}/readyz`);
    assert.equal(response.status, 200);
    assert.equal((await response.json()).checks.cache, 'up');
  });

  test('entries expire after their TTL', async () => {
    const short = await apiWith({ url: sharedRedisUrl(), ttlSeconds: 1 });
    try {
      await waitFor(async () => (await short.cache.status()) === 'up');
      await short.get('/v1/offices/north-fjellby-east');
      assert.ok((await inspect.pTTL('offices:v1:office:north-fjellby-east')) <= 1000);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      assert.equal(await inspect.exists('offices:v1:office:north-fjellby-east'), 0);
    } finally {
      await short.stop();
    }
  });

  test('shutdown closes the Redis connection', async () => {
    const named = async () => (await inspect.clientList()).some((client) => client.name === 'offices-shutdown-test');
    const extra = await apiWith({ url: sharedRedisUrl(), clientName: 'offices-shutdown-test' });
    try {
      await waitFor(named);
    } finally {
      await extra.stop();
    }
    await waitFor(async () => !(await named()));
  });
});

describe('when Redis is not there', () => {
  test('unreachable from the start: every read answers from the directory, ready stays true', async () => {
    const api = await apiWith({ url: 'redis://127.0.0.1:1' });
    try {
      for (let i = 0; i < 5; i += 1) assert.equal((await api.get('/v1/offices/north-northport-east')).status, 200);
      assert.equal((await api.get('/v1/offices?region=laptop')).body.offices.length, 2);
      assert.ok((await api.count('get', 'error')) >= 6);
      const ready = await fetch(`${api.base}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal((await ready.json()).checks.cache, 'down');
    } finally {
      await api.stop();
    }
  });

  test('dies mid-way: no 500, no hang, and the cache comes back when Redis does', async () => {
    const redis = await startRedis();
    const api = await apiWith({ url: redis.url, timeoutMs: 50 });
    try {
      await waitFor(async () => (await api.cache.status()) === 'up');
      await api.get('/v1/offices/coast-seaside-central');
      assert.equal(await api.count('get', 'miss'), 1);
      await redis.stop('SIGKILL');
      const started = Date.now();
      const statuses = [];
      for (let i = 0; i < 20; i += 1) statuses.push((await api.get('/v1/offices/coast-seaside-central')).status);
      assert.deepEqual([...new Set(statuses)], [200]);
      assert.ok(Date.now() - started < 20 * 200, 'reads fell through quickly');
      assert.ok(await api.count('get', 'error') >= 1);
      assert.match(api.logs.text(), /redis unavailable/);
    } finally {
      await api.stop();
    }
  });

  test('a password-protected Redis: the right password caches, a wrong one falls through', async () => {
    const redis = await startRedis(['--requirepass', 'cache-test-password-0123456789']);
    const good = await apiWith({ url: redis.url, password: 'cache-test-password-0123456789' });
    const bad = await apiWith({ url: redis.url, password: 'wrong-password' });
    try {
      await waitFor(async () => (await good.cache.status()) === 'up');
      await good.get('/v1/offices/north-northport-central');
      assert.equal(await good.count('set', 'stored'), 1);
      assert.equal((await bad.get('/v1/offices/north-northport-central')).status, 200);
      assert.equal(await bad.count('get', 'hit'), 0);
      assert.ok(!bad.logs.text().includes('wrong-password'), 'the password reached the logs');
    } finally {
      await good.stop();
      await bad.stop();
      await redis.stop();
    }
  });
});
