// make bench-services: the offices API, configured as in production (issuer, audience, Redis with
// a password), against a bare Express hello-world and against the same endpoint written the
// common way (tools/bench/common.js: Express, jsonwebtoken, node-redis, no memo, no near cache,
// no logs, no metrics), in the same run on the same machine, in two scenarios:
//   - the cache-hit path with one token (token memo hit, near cache or Redis GET, JSON, ECS
//     access log, metrics);
//   - many distinct valid tokens, so every request pays the RSA signature check (the memo's
//     16 MiB hold about 10,000 of these tokens; the pool cycles through more, so none is
//     remembered when it comes round again).
// Rounds alternate the servers so that machine noise hits them alike; medians are quoted. Then a
// CPU profile of the offices API in each scenario (a fresh process with --cpu-prof), summarised
// as the functions that took the most CPU. The ratios depend on how busy the machine is (bare
// Express speeds up on an idle machine more than the API does): the load average is printed, and
// figures are quoted from a quiet machine (load below 0.5).
// The last line is machine-readable:
//   throughput_ratio= p99_ms= errors= ratio_distinct_tokens= p99_distinct_ms= common_ratio=
//   common_ratio_distinct_tokens= kit_vs_common= kit_vs_common_distinct_tokens= load=
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';
import { SignJWT } from 'jose';

import { keyPair, sample, startRedis, tempDir } from '../../lib/test-support/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const OFFICE = 'coast-seaside-central';
const ISSUER = 'https://auth.bench.platform.gov.example';
const DISTINCT_TOKENS = Number(process.env.BENCH_DISTINCT_TOKENS ?? 12_000); // more than the memo holds

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
async function start(script, env, healthPath = '/healthz', nodeArgs = []) {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, fileURLToPath(new URL(script, import.meta.url))], {
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

function load(url, headers, nextToken) {
  const requests = nextToken
    ? [{ setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: `Bearer ${nextToken()}` } }) }]
    : undefined;
  return autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers, ...(requests ? { requests } : {}) });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const dir = tempDir('bench-');
const site = keyPair(dir, 'site', 3072); // the platform's own key size
const password = 'bench-redis-password-0123456789';
const passwordFile = `${dir}/redis-password`;
writeFileSync(passwordFile, password);
const redis = await startRedis(['--requirepass', password]);

function sign(subject) {
  return new SignJWT({ scope: 'offices.read' })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setSubject(subject)
    .setAudience('national-platform')
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime('15m')
    .sign(site.privateKey);
}
const token = await sign('bench');
process.stdout.write(`signing ${DISTINCT_TOKENS} distinct tokens…\n`);
const pool = [];
for (let i = 0; i < DISTINCT_TOKENS; i += 1) pool.push(await sign(`client-${i}`));
let cursor = 0;
const nextToken = () => pool[(cursor += 1) % pool.length];

const OFFICES_ENV = {
  REDIS_URL: `${redis.url}/1`,
  REDIS_PASSWORD_FILE: passwordFile,
  JWT_PUBLIC_KEY_FILES: site.publicFile,
  JWT_AUDIENCE: 'national-platform',
  JWT_ISSUER: ISSUER,
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
};
const offices = await start('../../offices/src/server.js', OFFICES_ENV);
const hello = await start('./hello.js', {}, '/hello');
const common = await start('./common.js', {
  REDIS_URL: `${redis.url}/2`,
  REDIS_PASSWORD_FILE: passwordFile,
  JWT_PUBLIC_KEY_FILE: site.publicFile,
  JWT_AUDIENCE: 'national-platform',
  JWT_ISSUER: ISSUER,
  DIRECTORY_FILE: fileURLToPath(new URL('../../offices/data/offices.json', import.meta.url)),
});
const exampleUrl = `${offices.url}/v1/offices/${OFFICE}`;
const commonUrl = `${common.url}/v1/offices/${OFFICE}`;
const auth = { authorization: `Bearer ${token}` };
const load1 = loadavg()[0];
process.stdout.write(`load average (1 min): ${load1.toFixed(2)}${load1 > 0.5 ? ' — not a quiet machine: ratios will read high' : ''}\n`);

/** A CPU profile of a fresh offices process under one scenario: the functions that took the most. */
async function profile(name, headers, next) {
  const dir = fileURLToPath(new URL('../../../build/bench-profiles/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${name}.cpuprofile`;
  const profiled = await start('../../offices/src/server.js', OFFICES_ENV, '/healthz', [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    `--cpu-prof-name=${file}`,
  ]);
  await load(`${profiled.url}/v1/offices/${OFFICE}`, headers, next);
  const exited = new Promise((resolve) => profiled.child.on('exit', resolve));
  profiled.child.kill('SIGTERM');
  await exited;
  const { nodes, samples } = JSON.parse(readFileSync(`${dir}${file}`, 'utf8'));
  const hits = new Map(nodes.map((node) => [node.id, 0]));
  for (const id of samples) hits.set(id, hits.get(id) + 1);
  const byFunction = new Map();
  for (const node of nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^.*\/node_modules\//, '').replace(/^.*\/services\//, '')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits.get(node.id));
  }
  const total = samples.length;
  const top = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 8);
  process.stdout.write(`CPU profile, ${name} (${dir}${file}), self time:\n`);
  for (const [fn, count] of top) process.stdout.write(`  ${((100 * count) / total).toFixed(1).padStart(5)} %  ${fn}\n`);
}

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
    const commonHit = await load(commonUrl, auth);
    const distinct = await load(exampleUrl, {}, nextToken);
    const commonDistinct = await load(commonUrl, {}, nextToken);
    const runs = [base, example, commonHit, distinct, commonDistinct];
    const row = {
      round,
      baseline_rps: base.requests.average,
      example_rps: example.requests.average,
      ratio: example.requests.average / base.requests.average,
      example_p99_ms: example.latency.p99,
      distinct_rps: distinct.requests.average,
      distinct_ratio: distinct.requests.average / base.requests.average,
      distinct_p99_ms: distinct.latency.p99,
      common_ratio: commonHit.requests.average / base.requests.average,
      common_p99_ms: commonHit.latency.p99,
      common_distinct_ratio: commonDistinct.requests.average / base.requests.average,
      common_distinct_p99_ms: commonDistinct.latency.p99,
      errors: runs.reduce((sum, run) => sum + run.errors + run.timeouts + run.non2xx, 0),
    };
    rounds.push(row);
    process.stdout.write(
      `round ${round}: baseline ${row.baseline_rps.toFixed(0)} req/s; cache hit: kit ${row.example_rps.toFixed(0)} req/s ` +
        `(ratio ${row.ratio.toFixed(3)}, p99 ${row.example_p99_ms} ms), common way ratio ${row.common_ratio.toFixed(3)} ` +
        `(p99 ${row.common_p99_ms} ms); distinct tokens: kit ${row.distinct_rps.toFixed(0)} req/s ` +
        `(ratio ${row.distinct_ratio.toFixed(3)}, p99 ${row.distinct_p99_ms} ms), common way ratio ` +
        `${row.common_distinct_ratio.toFixed(3)} (p99 ${row.common_distinct_p99_ms} ms); errors ${row.errors}\n`,
    );
  }
  await profile('cache-hit', auth);
  await profile('distinct-tokens', {}, nextToken);
  const metrics = await (await fetch(`${offices.url}/metrics`)).text();
  const hits = sample(metrics, 'offices_cache_operations_total', { operation: 'get', result: 'hit' }) ?? 0;
  const nearHits = sample(metrics, 'offices_cache_operations_total', { operation: 'get', result: 'near_hit' }) ?? 0;
  const misses = sample(metrics, 'offices_cache_operations_total', { operation: 'get', result: 'miss' }) ?? 0;
  const cacheErrors = sample(metrics, 'offices_cache_operations_total', { operation: 'get', result: 'error' }) ?? 0;
  process.stdout.write(
    `cache: ${nearHits} near-cache hits, ${hits} Redis hits, ${misses} misses, ${cacheErrors} errors (the example ran on the hit path)\n`,
  );
  const errors = rounds.reduce((sum, row) => sum + row.errors, 0) + cacheErrors;
  process.stdout.write(
    `throughput_ratio=${median(rounds.map((r) => r.ratio)).toFixed(3)} ` +
      `p99_ms=${median(rounds.map((r) => r.example_p99_ms))} errors=${errors} ` +
      `ratio_distinct_tokens=${median(rounds.map((r) => r.distinct_ratio)).toFixed(3)} ` +
      `p99_distinct_ms=${median(rounds.map((r) => r.distinct_p99_ms))} ` +
      `common_ratio=${median(rounds.map((r) => r.common_ratio)).toFixed(3)} ` +
      `common_ratio_distinct_tokens=${median(rounds.map((r) => r.common_distinct_ratio)).toFixed(3)} ` +
      `kit_vs_common=${median(rounds.map((r) => r.ratio / r.common_ratio)).toFixed(3)} ` +
      `kit_vs_common_distinct_tokens=${median(rounds.map((r) => r.distinct_ratio / r.common_distinct_ratio)).toFixed(3)} ` +
      `load=${load1.toFixed(2)}\n`,
  );
} finally {
  offices.child.kill('SIGTERM');
  hello.child.kill('SIGTERM');
  common.child.kill('SIGTERM');
  await redis.stop('SIGTERM');
}
