export { COMMON_SPEC, ConfigError, readConfig } from './config.js';
export { createLogger } from './logger.js';
export { DURATION_BUCKETS, HTTP_DURATION, HTTP_REQUESTS, createMetrics, routeOf } from './metrics.js';
export { HttpError, createService, exitOnSignals } from './service.js';
export { startService } from './main.js';
export {
  ALGORITHMS,
  MEMO_MAX_BYTES,
  MIN_RSA_BITS,
  TOKEN_SPEC,
  VerifiedTokens,
  memoCost,
  createTokenGuard,
  keyId,
  loadVerificationKeys,
  tokenGuardFromConfig,
} from './tokens.js';
