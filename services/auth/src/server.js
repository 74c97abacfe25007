// Entry point of the auth service (the container's command).
import { COMMON_SPEC, createMetrics, startService } from '@natplat/service-kit';

import { createAuthApp } from './app.js';
import { loadClients } from './clients.js';
import { loadKeys } from './keys.js';

export const SPEC = {
  ...COMMON_SPEC,
  issuer: { env: 'ISSUER', type: 'url', required: true, schemes: ['https:', 'http:'] },
  audience: { env: 'AUDIENCE', type: 'string', required: true },
  tokenTtlSeconds: { env: 'TOKEN_TTL_SECONDS', type: 'int', min: 60, max: 3600, default: 900 },
  signingKeyFile: { env: 'SIGNING_KEY_FILE', type: 'file', required: true },
  extraPublicKeyFiles: { env: 'EXTRA_PUBLIC_KEY_FILES', type: 'files', default: [] },
  clientsFile: { env: 'CLIENTS_FILE', type: 'file', required: true },
};

await startService({
  name: 'auth',
  version: process.env.SERVICE_VERSION ?? '1.0.0',
  spec: SPEC,
  async build(config, logger) {
    const keys = await loadKeys(config);
    const clients = loadClients(config.clientsFile);
    const metrics = createMetrics({ service: 'auth' });
    return { service: createAuthApp({ config, keys, clients, logger, metrics }) };
  },
});
