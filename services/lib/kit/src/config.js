// Configuration from environment variables, validated once at start. Every problem is reported
// at once, each naming its variable, and the service refuses to start rather than run half-set.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export class ConfigError extends Error {
  constructor(problems) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const PARSERS = {
  string(raw) {
    return raw;
  },
  int(raw, rule) {
    if (!/^-?\d+$/.test(raw)) throw new Error('must be an integer');
    const value = Number(raw);
    if (rule.min !== undefined && value < rule.min) throw new Error(`must be at least ${rule.min}`);
    if (rule.max !== undefined && value > rule.max) throw new Error(`must be at most ${rule.max}`);
    return value;
  },
  url(raw, rule) {
    let url;
    try {
      url = new URL(raw);
    } catch {
      throw new Error('must be an absolute URL');
    }
    const schemes = rule.schemes ?? ['https:', 'http:'];
    if (!schemes.includes(url.protocol)) throw new Error(`must use ${schemes.join(' or ')}`);
    return raw;
  },
  // A file the service must be able to read now (a mounted Secret or ConfigMap key).
  file(raw) {
    try {
      readFileSync(raw);
    } catch (error) {
      throw new Error(`cannot be read (${error.code ?? error.message})`);
    }
    return raw;
  },
  // Files, or folders standing for every `.pem` file in them (a mounted ConfigMap of keys): a
  // pod started from an older template then reads the keys the ConfigMap holds now, instead of
  // failing on a file name a key rotation removed.
  files(raw, rule) {
    const paths = raw.split(',').map((p) => p.trim()).filter(Boolean);
    if (paths.length === 0 && rule.required) throw new Error('must list at least one file');
    return paths.flatMap((p) => {
      let entries;
      try {
        if (!statSync(p).isDirectory()) return [PARSERS.file(p)];
        entries = readdirSync(p).filter((name) => name.endsWith('.pem') && !name.startsWith('.')).sort();
      } catch (error) {
        throw new Error(`cannot be read (${error.code ?? error.message})`);
      }
      if (entries.length === 0) throw new Error(`${p} holds no .pem file`);
      return entries.map((name) => PARSERS.file(join(p, name)));
    });
  },
  level(raw) {
    const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
    if (!levels.includes(raw)) throw new Error(`must be one of ${levels.join(', ')}`);
    return raw;
  },
};

/**
 * Reads `spec` out of `env`. A spec entry is `{ env, type, required?, default?, min?, max? }`;
 * the result has the entry's key. Throws ConfigError listing every bad or missing variable.
 */
export function readConfig(env, spec) {
  const config = {};
  const problems = [];
  for (const [key, rule] of Object.entries(spec)) {
    const raw = env[rule.env];
    if (raw === undefined || raw === '') {
      if (rule.required) problems.push(`${rule.env}: is required`);
      else config[key] = rule.default;
      continue;
    }
    const parse = PARSERS[rule.type];
    if (!parse) throw new TypeError(`unknown config type ${rule.type} for ${rule.env}`);
    try {
      config[key] = parse(raw, rule);
    } catch (error) {
      const shown = rule.secret ? '' : ` (got ${JSON.stringify(raw)})`;
      problems.push(`${rule.env}: ${error.message}${shown}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** The config every service shares: port, log level, drain delay and shutdown timeout. */
export const COMMON_SPEC = {
  port: { env: 'PORT', type: 'int', min: 0, max: 65535, default: 8080 }, // 0: any free port (tests)
  logLevel: { env: 'LOG_LEVEL', type: 'level', default: 'info' },
  // After SIGTERM, how long the service keeps accepting and serving (every response saying
  // `Connection: close`) while the endpoints and the gateway stop routing to it. Kubernetes
  // removes a terminating pod's endpoints at the same time as it sends SIGTERM, not before; the
  // Deployment sets it (natplat/layers/services/microservice.py). 0 outside a cluster.
  drainDelayMs: { env: 'DRAIN_DELAY_MS', type: 'int', min: 0, max: 60000, default: 0 },
  shutdownTimeoutMs: { env: 'SHUTDOWN_TIMEOUT_MS', type: 'int', min: 100, max: 120000, default: 20000 },
};
