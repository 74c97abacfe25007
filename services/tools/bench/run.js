// make bench-services: the offices API on its cache-hit path (token check, Redis GET, JSON, ECS
// access log, metrics) against a bare Express hello-world, in the same run on the same machine.
// Rounds alternate baseline / example so that machine noise hits both alike; medians are quoted.
// The last line is machine-readable:
//   throughput_ratio=<example/baseline> p99_ms=<example p99> errors=<non-2xx + socket errors>
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';
import { SignJWT } from 'jose';

import { keyPair, sample, startRedis, tempDir } from '../../lib/test-support/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const OFFICE = 'coast-seaside-central';

async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts `script` on a free port and waits for its /healthz (whatever its log level). */
async function start(script, env, healthPath = '/healthz') {
  const port = await freePort();
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url))], {
    env: { PATH: process.env.PATH, PORT: String(port), ...env },
    // Access logs are read and dropped, as a log shipper would read them.
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.resume();
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 100 && !exited; attempt += 1) {
    try {
      if ((await fetch(`${url}${healthPath}`)).ok) return { child, url };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${script} did not become healthy`);
}

function load(url, headers) {
  return autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const dir = tempDir('bench-');
const site = keyPair(dir, 'site');
const redis = await startRedis();
const token = await new SignJWT({ scope: 'offices.read' })
  .setProtectedHeader({ alg: 'RS256' })
  .setSubject('bench')
  .setAudience('national-platform')
  .setIssuedAt()
  .setNotBefore('0s')
  .setExpirationTime('1h')
  .sign(site.privateKey);

const offices = await start('../offices/src/server.js', {
  REDIS_URL: redis.url,
  JWT_PUBLIC_KEY_FILES: site.publicFile,
  JWT_AUDIENCE: 'national-platform',
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
});
const hello = await start('./hello.js', {}, '/hello');
const exampleUrl = `${offices.url}/v1/offices/${OFFICE}`;
const auth = { authorization: `Bearer ${token}` };

try {
  // Warm the cache (one miss), and prove the example really answers 200 from it.
  for (let i = 0; i < 50; i += 1) {
    const response = await fetch(exampleUrl, { headers: auth });
    if (response.status !== 200) throw new Error(`warm-up got ${response.status}`);
    await response.arrayBuffer();
    if (i === 0) await new Promise((resolve) => setTimeout(resolve, 100)); // Redis connected
  }
  const rounds = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const base = await load(`${hello.url}/hello`, {});
    const example = await load(exampleUrl, auth);
    const row = {
      round,
      baseline_rps: base.requests.average,
      example_rps: example.requests.average,
      ratio: example.requests.average / base.requests.average,
      example_p99_ms: example.latency.p99,
      errors: example.errors + example.timeouts + example.non2xx + base.errors + base.non2xx,
    };
    rounds.push(row);
    process.stdout.write(
      `round ${round}: baseline ${row.baseline_rps.toFixed(0)} req/s, example ${row.example_rps.toFixed(0)} req/s, ` +
        `ratio ${row.ratio.toFixed(3)}, example p99 ${row.example_p99_ms} ms, errors ${row.errors}\n`,
    );
  }
  const metrics = await (await fetch(`${offices.url}/metrics`)).text();
  const hits = sample(metrics, 'offices_cache_operations_total', { operation: 'get', result: 'hit' }) ?? 0;
  const misses = sample(metrics, 'offices_cache_operations_total', { operation: 'get', result: 'miss' }) ?? 0;
  const cacheErrors = sample(metrics, 'offices_cache_operations_total', { operation: 'get', result: 'error' }) ?? 0;
  process.stdout.write(`cache: ${hits} hits, ${misses} misses, ${cacheErrors} errors (the example ran on the hit path)\n`);
  const errors = rounds.reduce((sum, row) => sum + row.errors, 0) + cacheErrors;
  process.stdout.write(
    `throughput_ratio=${median(rounds.map((r) => r.ratio)).toFixed(3)} ` +
      `p99_ms=${median(rounds.map((r) => r.example_p99_ms))} errors=${errors}\n`,
  );
} finally {
  offices.child.kill('SIGTERM');
  hello.child.kill('SIGTERM');
  await redis.stop('SIGTERM');
}
