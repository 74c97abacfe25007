// Cache-aside over Redis. The cache is an accelerator, never a dependency: when Redis is slow or
// down, every read falls through to the directory within `timeoutMs`, answers stay correct, and
// only latency and the `offices_cache_operations_total{result="error"}` series show it.
import { createClient } from '@redis/client';

const KEY_PREFIX = 'offices:v1:'; // bump the version when the cached shape changes

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A near cache in front of Redis: each replica keeps what it read for `ttlMs` (2 s by default), so
 * a hot entry costs one Redis round trip per replica every two seconds instead of one per request.
 * Bounded by `limit` (the oldest entry goes first); a directory change still reaches readers
 * within the Redis TTL plus `ttlMs`.
 */
function createNearCache(ttlMs, limit) {
  const entries = new Map();
  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.expires <= Date.now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.value;
    },
    set(key, value) {
      if (ttlMs <= 0) return;
      if (entries.size >= limit) entries.delete(entries.keys().next().value);
      entries.set(key, { value, expires: Date.now() + ttlMs });
    },
  };
}

export function createRedisCache({ url, password, ttlSeconds, timeoutMs, logger, metrics, clientName = 'offices', nearTtlMs = 2000, nearLimit = 1000 }) {
  const near = createNearCache(nearTtlMs, nearLimit);
  const operations = metrics.counter({
    name: 'offices_cache_operations_total',
    help: 'Cache lookups and writes, by operation and result (near_hit, hit, miss, invalid, stored, error).',
    labelNames: ['operation', 'result'],
  });
  const client = createClient({
    url,
    name: clientName, // CLIENT SETNAME: who holds a connection shows in `CLIENT LIST`
    ...(password ? { password } : {}),
    // Fail fast while disconnected instead of queueing: a queued read is a slow read.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      // Keep trying in the background, at most every 5 s; reads meanwhile go to the directory.
      reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 5000),
    },
  });
  let lastErrorLogged = 0;
  client.on('error', (error) => {
    // node-redis emits on every failed reconnect; one warning per 30 s is enough to see it.
    if (Date.now() - lastErrorLogged > 30_000) {
      lastErrorLogged = Date.now();
      logger.warn({ err: error, event: { action: 'cache-error' } }, `redis unavailable: ${error.message}`);
    }
  });
  client.on('ready', () => logger.info({ event: { action: 'cache-ready' } }, 'redis connected'));

  async function attempt(operation, run) {
    if (!client.isReady) {
      operations.inc({ operation, result: 'error' });
      return { ok: false };
    }
    try {
      return { ok: true, value: await withTimeout(run(), timeoutMs) };
    } catch (error) {
      operations.inc({ operation, result: 'error' });
      logger.debug({ err: error }, `cache ${operation} failed`);
      return { ok: false };
    }
  }

  return {
    /** Connects in the background; the service starts serving either way. */
    start() {
      client.connect().catch(() => {}); // errors surface through the 'error' event
    },
    /**
     * The cached value of `key`, or the loader's. Only what the loader found is stored (`found`
     * decides), so the key space is bounded by the directory, not by what callers ask for: an
     * unknown region or office is answered from the directory every time and never becomes a key
     * in the Redis that Kong's rate-limit counters share. A cached value is served only if it has
     * the shape the caller expects (`valid`): valid JSON of another shape (`false`, a string, an
     * old layout, what another writer put there) is a miss, counted `invalid`, and is replaced.
     */
    async getOrLoad(key, load, found = (value) => value !== undefined, valid = () => true) {
      const local = near.get(key);
      if (local !== undefined) {
        operations.inc({ operation: 'get', result: 'near_hit' });
        return local;
      }
      const cached = await attempt('get', async () => {
        const text = await client.get(KEY_PREFIX + key);
        // Parsed inside the guard: a value that is not JSON is a cache fault, not a 500.
        return text === null ? null : JSON.parse(text);
      });
      if (cached.ok && cached.value !== null && valid(cached.value)) {
        operations.inc({ operation: 'get', result: 'hit' });
        near.set(key, cached.value);
        return cached.value;
      }
      if (cached.ok) operations.inc({ operation: 'get', result: cached.value === null ? 'miss' : 'invalid' });
      const value = await load();
      if (found(value) && cached.ok) {
        const stored = await attempt('set', () =>
          client.set(KEY_PREFIX + key, JSON.stringify(value), { expiration: { type: 'EX', value: ttlSeconds } }),
        );
        if (stored.ok) operations.inc({ operation: 'set', result: 'stored' });
        near.set(key, value);
      }
      return value;
    },
    async status() {
      const pong = await attempt('ping', () => client.ping());
      return pong.ok ? 'up' : 'down';
    },
    async close() {
      if (!client.isOpen) return;
      // A connected client quits politely; one still retrying is torn down at once.
      if (client.isReady) await client.close().catch(() => client.destroy());
      else client.destroy();
    },
  };
}

/** The same interface without Redis, for services a site runs without the cache layer. */
export function createNoCache() {
  return {
    start() {},
    getOrLoad: async (key, load) => load(),
    status: async () => 'disabled',
    close: async () => {},
  };
}
