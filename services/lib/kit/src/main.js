// The common entry point: read config, build the logger, start, and exit cleanly on SIGTERM.
// A configuration error is logged once, in ECS like everything else, and the process exits 1.
import { readConfig } from './config.js';
import { createLogger } from './logger.js';
import { exitOnSignals } from './service.js';

/**
 * `build(config, logger)` returns `{ service, start? }`; `spec` extends COMMON_SPEC.
 */
export async function startService({ name, version, spec, build, env = process.env }) {
  let config;
  try {
    config = readConfig(env, spec);
  } catch (error) {
    const logger = createLogger({ service: name, version });
    logger.fatal({ err: error, event: { action: 'config' } }, error.message);
    logger.flush?.();
    process.exitCode = 1;
    return undefined;
  }
  const logger = createLogger({ service: name, version, level: config.logLevel });
  let built;
  try {
    built = await build(config, logger);
  } catch (error) {
    // A key or client file that is present but unusable: as fatal as a missing variable.
    logger.fatal({ err: error, event: { action: 'start' } }, `cannot start: ${error.message}`);
    logger.flush?.();
    process.exitCode = 1;
    return undefined;
  }
  try {
    await built.service.listen(config.port);
  } catch (error) {
    // EADDRINUSE, EACCES, …: one ECS line saying what is wrong, never a stack trace on stderr.
    const why = error.code === 'EADDRINUSE' ? 'the port is already in use' : error.code ?? error.message;
    logger.fatal({ err: error, event: { action: 'start' } }, `cannot listen on port ${config.port} (PORT): ${why}`);
    logger.flush?.();
    process.exitCode = 1;
    await built.service.shutdown(0).catch(() => {});
    return undefined;
  }
  logger.flush?.(); // "listening" is what probes and operators wait for: out at once
  exitOnSignals(built.service, { logger, timeoutMs: config.shutdownTimeoutMs, delayMs: config.drainDelayMs });
  return built;
}
