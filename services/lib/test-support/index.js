// Helpers the services' tests share: key pairs on disk, a logger whose lines can be read back,
// a service on an ephemeral port, and a service run as a real process.
import { generateKeyPairSync } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { createLogger, createMetrics } from '@natplat/service-kit';

export function tempDir(prefix = 'natplat-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** An RSA key pair written as PEM files, as pulumi-tls and the Kubernetes Secrets provide them. */
export function keyPair(dir, name = 'signing', bits = 2048) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
  const privateFile = join(dir, `${name}.key`);
  const publicFile = join(dir, `${name}.pub`);
  writeFileSync(privateFile, privatePem);
  writeFileSync(publicFile, publicPem);
  return { privateKey, publicKey, privatePem, publicPem, privateFile, publicFile };
}

/** A logger writing ECS lines into memory; `lines()` parses them back. */
export function memoryLogger(service, level = 'debug') {
  const chunks = [];
  const destination = new Writable({
    write(chunk, encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ service, version: 'test', level, destination });
  return {
    logger,
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line)),
  };
}

export function testMetrics(service) {
  return createMetrics({ service });
}

/** Starts `service` on an ephemeral loopback port; returns its base URL. */
export async function listen(service) {
  const port = await service.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${port}`;
}

/** Runs `node <script>` with `env`; resolves once it printed `listening` (or exited). */
export function spawnService(script, env) {
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not started in time:\n${output}`)), 10_000);
    const check = () => {
      const match = /listening on (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout.on('data', check);
    exited.then(() => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  return {
    child,
    started,
    exited,
    output: () => output,
    lines: () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line)),
  };
}

export function freePortUrl() {
  // Port 1 on loopback: nothing listens there, connections are refused at once.
  return 'redis://127.0.0.1:1';
}

/** The value of the sample `name` whose labels include `labels`, from Prometheus text format. */
export function sample(text, name, labels = {}) {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

/** A private redis-server on loopback (Debian's binary), for tests that stop or reconfigure it. */
export async function startRedis(extraArgs = []) {
  const { createServer } = await import('node:net');
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
    child.on('error', (error) => reject(new Error(`redis-server could not run (${error.message}); apt-get install redis-server`)));
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop(signal = 'SIGKILL') {
      child.kill(signal);
      await exited;
    },
  };
}

/** The shared Redis the test command started (make test-services), required, never skipped. */
export function sharedRedisUrl() {
  const url = process.env.REDIS_TEST_URL;
  if (!url) throw new Error('REDIS_TEST_URL is not set: run the service tests through `make test-services`');
  return url;
}
