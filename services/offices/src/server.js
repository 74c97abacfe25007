// Entry point of the offices API (the container's command).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { COMMON_SPEC, TOKEN_SPEC, createMetrics, startService, tokenGuardFromConfig } from '@natplat/service-kit';

import { createOfficesApp } from './app.js';
import { createNoCache, createRedisCache } from './cache.js';
import { createDirectory } from './directory.js';

const BUNDLED_DIRECTORY = fileURLToPath(new URL('../data/offices.json', import.meta.url));

export const SPEC = {
  ...COMMON_SPEC,
  directoryFile: { env: 'DIRECTORY_FILE', type: 'file', default: BUNDLED_DIRECTORY },
  ...TOKEN_SPEC,
  redisUrl: { env: 'REDIS_URL', type: 'url', schemes: ['redis:', 'rediss:'] },
  redisPasswordFile: { env: 'REDIS_PASSWORD_FILE', type: 'file' },
  cacheTtlSeconds: { env: 'CACHE_TTL_SECONDS', type: 'int', min: 1, max: 86400, default: 300 },
  cacheTimeoutMs: { env: 'CACHE_TIMEOUT_MS', type: 'int', min: 5, max: 5000, default: 100 },
  cacheNearTtlMs: { env: 'CACHE_NEAR_TTL_MS', type: 'int', min: 0, max: 60000, default: 2000 },
};

await startService({
  name: 'offices',
  version: process.env.SERVICE_VERSION ?? '1.0.0',
  spec: SPEC,
  async build(config, logger) {
    const metrics = createMetrics({ service: 'offices' });
    const rejected = metrics.counter({
      name: 'offices_token_rejections_total',
      help: 'Requests refused by the API own token check, by reason.',
      labelNames: ['reason'],
    });
    const guard = await tokenGuardFromConfig(config, { onRejected: (reason) => rejected.inc({ reason }) });
    const cache = config.redisUrl
      ? createRedisCache({
          url: config.redisUrl,
          password: config.redisPasswordFile ? readFileSync(config.redisPasswordFile, 'utf8').trim() : undefined,
          ttlSeconds: config.cacheTtlSeconds,
          timeoutMs: config.cacheTimeoutMs,
          nearTtlMs: config.cacheNearTtlMs,
          logger,
          metrics,
        })
      : createNoCache();
    cache.start();
    const directory = createDirectory({ file: config.directoryFile });
    return { service: createOfficesApp({ directory, cache, guard, logger, metrics }) };
  },
});
