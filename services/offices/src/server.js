// Entry point of the offices API (the container's command).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { COMMON_SPEC, createMetrics, startService } from '@natplat/service-kit';

import { createOfficesApp } from './app.js';
import { createNoCache, createRedisCache } from './cache.js';
import { createDirectory } from './directory.js';
import { createTokenGuard, loadVerificationKeys } from './tokens.js';

const BUNDLED_DIRECTORY = fileURLToPath(new URL('../data/offices.json', import.meta.url));

export const SPEC = {
  ...COMMON_SPEC,
  directoryFile: { env: 'DIRECTORY_FILE', type: 'file', default: BUNDLED_DIRECTORY },
  jwtPublicKeyFiles: { env: 'JWT_PUBLIC_KEY_FILES', type: 'files', required: true },
  jwtAudience: { env: 'JWT_AUDIENCE', type: 'string', required: true },
  jwtIssuer: { env: 'JWT_ISSUER', type: 'url', required: true },
  // Kong's jwt `maximum_expiration`: the issuer's token lifetime plus the clock skew it allows.
  jwtMaxLifetimeSeconds: { env: 'JWT_MAX_LIFETIME_SECONDS', type: 'int', min: 60, max: 86400, default: 960 },
  redisUrl: { env: 'REDIS_URL', type: 'url', schemes: ['redis:', 'rediss:'] },
  redisPasswordFile: { env: 'REDIS_PASSWORD_FILE', type: 'file' },
  cacheTtlSeconds: { env: 'CACHE_TTL_SECONDS', type: 'int', min: 1, max: 86400, default: 300 },
  cacheTimeoutMs: { env: 'CACHE_TIMEOUT_MS', type: 'int', min: 5, max: 5000, default: 100 },
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
    const guard = createTokenGuard({
      keySet: await loadVerificationKeys(config.jwtPublicKeyFiles),
      audience: config.jwtAudience,
      issuer: config.jwtIssuer,
      maxLifetimeSeconds: config.jwtMaxLifetimeSeconds,
      onRejected: (reason) => rejected.inc({ reason }),
    });
    const cache = config.redisUrl
      ? createRedisCache({
          url: config.redisUrl,
          password: config.redisPasswordFile ? readFileSync(config.redisPasswordFile, 'utf8').trim() : undefined,
          ttlSeconds: config.cacheTtlSeconds,
          timeoutMs: config.cacheTimeoutMs,
          logger,
          metrics,
        })
      : createNoCache();
    cache.start();
    const directory = createDirectory({ file: config.directoryFile });
    return { service: createOfficesApp({ directory, cache, guard, logger, metrics }) };
  },
});
