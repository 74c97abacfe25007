// make new-service NAME=<name>: a new service the platform way, in services/<name>: an Express app
// on the kit (health, readiness, metrics, ECS logs, the site's token check, graceful shutdown),
// its tests, its Dockerfile, its workspace entry; then the stack-file lines that deploy it.
// Usage: node tools/new-service.js <name>   (from services/; make new-service runs npm install after)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVICES = dirname(dirname(fileURLToPath(import.meta.url)));
// The site model's service names: a lower-case DNS label of at most 32 characters.
const NAME = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;
const RESERVED = new Set(['auth', 'keycloak', 'lib', 'tools', 'node_modules', 'default-deny', 'allow-dns-egress']);

function fail(message) {
  process.stderr.write(`new-service: ${message}\n`);
  process.exit(2);
}

const name = process.argv[2] ?? '';
if (!NAME.test(name)) fail(`'${name}' is not a service name: a lower-case DNS label, at most 32 characters, starting with a letter`);
if (RESERVED.has(name)) fail(`'${name}' is reserved`);
const folder = join(SERVICES, name);
if (existsSync(folder)) fail(`services/${name} exists already`);

const kit = JSON.parse(readFileSync(join(SERVICES, 'lib', 'kit', 'package.json'), 'utf8'));
const offices = readFileSync(join(SERVICES, 'offices', 'Dockerfile'), 'utf8');
const base = /^FROM (\S+) AS dependencies$/m.exec(offices)?.[1];
if (!base) fail('cannot read the base image from services/offices/Dockerfile');
const scope = `${name}.read`;
const route = `/v1/${name}`;

const files = {
  'package.json': `${JSON.stringify(
    {
      name,
      version: '1.0.0',
      private: true,
      description: `The ${name} service.`,
      license: 'UNLICENSED',
      type: 'module',
      main: 'src/server.js',
      dependencies: { '@natplat/service-kit': kit.version, express: kit.dependencies.express },
      devDependencies: { jose: kit.dependencies.jose },
    },
    null,
    2,
  )}\n`,
  'src/app.js': `// ${name}: its routes, on the service kit (health, readiness, metrics, ECS logs, JSON errors,
// graceful shutdown). Every route is guarded by the site's token check with a scope.
import { createService } from '@natplat/service-kit';

export function create${pascal(name)}App({ guard, logger, metrics, readScope = '${scope}' }) {
  const requireRead = guard(readScope);
  return createService({
    name: '${name}',
    logger,
    metrics,
    routes(app) {
      app.get('${route}/hello', requireRead, (req, res) => {
        res.json({ service: '${name}', caller: res.locals.principal });
      });
    },
  });
}
`,
  'src/server.js': `// Entry point of ${name} (the container's command): configuration checked at start, the site's
// token check, and a graceful shutdown on SIGTERM.
import { COMMON_SPEC, TOKEN_SPEC, createMetrics, startService, tokenGuardFromConfig } from '@natplat/service-kit';

import { create${pascal(name)}App } from './app.js';

export const SPEC = { ...COMMON_SPEC, ...TOKEN_SPEC };

await startService({
  name: '${name}',
  version: process.env.SERVICE_VERSION ?? '1.0.0',
  spec: SPEC,
  async build(config, logger) {
    const metrics = createMetrics({ service: '${name}' });
    const guard = await tokenGuardFromConfig(config);
    return { service: create${pascal(name)}App({ guard, logger, metrics }) };
  },
});
`,
  'test/app.test.js': `// ${name} over HTTP: its route behind the token check, and the kit's endpoints.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { SignJWT } from 'jose';

import { createTokenGuard, loadVerificationKeys } from '@natplat/service-kit';

import { keyPair, listen, memoryLogger, tempDir, testMetrics } from '../../lib/test-support/index.js';
import { create${pascal(name)}App } from '../src/app.js';

const ISSUER = 'https://auth.test.platform.gov.example';
const AUDIENCE = 'national-platform';
const site = keyPair(tempDir('${name}-'), 'site');
let service;
let base;

function token(scope = '${scope}') {
  return new SignJWT({ scope })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setSubject('portal')
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime('5m')
    .sign(site.privateKey);
}

before(async () => {
  const keySet = await loadVerificationKeys([site.publicFile]);
  const guard = createTokenGuard({ keySet, audience: AUDIENCE, issuer: ISSUER, maxLifetimeSeconds: 960 });
  service = create${pascal(name)}App({ guard, logger: memoryLogger('${name}').logger, metrics: testMetrics('${name}') });
  base = await listen(service);
});

after(() => service.shutdown(1000));

test('the route answers a caller whose token has the scope', async () => {
  const response = await fetch(\`\${base}${route}/hello\`, { headers: { authorization: \`Bearer \${await token()}\` } });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { service: '${name}', caller: 'portal' });
});

test('no token is a 401, a token without the scope a 403', async () => {
  assert.equal((await fetch(\`\${base}${route}/hello\`)).status, 401);
  const other = await fetch(\`\${base}${route}/hello\`, { headers: { authorization: \`Bearer \${await token('other.read')}\` } });
  assert.equal(other.status, 403);
});

test('health, readiness and metrics answer without a token', async () => {
  for (const path of ['/healthz', '/readyz', '/metrics']) {
    assert.equal((await fetch(\`\${base}\${path}\`)).status, 200, path);
  }
});
`,
  Dockerfile: offices
    .replaceAll('offices', name)
    .replace(`COPY ${name}/data ${name}/data\n`, ''),
};

mkdirSync(folder);
for (const [path, text] of Object.entries(files)) {
  mkdirSync(dirname(join(folder, path)), { recursive: true });
  writeFileSync(join(folder, path), text);
}
const workspace = JSON.parse(readFileSync(join(SERVICES, 'package.json'), 'utf8'));
workspace.workspaces = [...workspace.workspaces, name];
writeFileSync(join(SERVICES, 'package.json'), `${JSON.stringify(workspace, null, 2)}\n`);

process.stdout.write(`created services/${name} (src/, test/, Dockerfile, workspace entry)

To deploy it on a site, paste these lines at the end of the list under national-platform:services:
in the site's stack file (stacks/Pulumi.<site>.yaml):

${entry()}
Its scopes are what a token must carry to call it: the realm creates them, and a client or an
application gets them by naming them in identity.clients[].scopes or identity.applications[].scopes.
On an air-gapped site, set imageDigest to the mirrored image's digest (make validate says so).
then: make validate FILE=stacks/Pulumi.<site>.yaml && make test
`);

/** The stack-file entry, indented as an item of the national-platform:services list. */
function entry() {
  return [
    `    - name: ${name}`,
    '      routes:',
    `        - ${route}`,
    `      scopes: [${name}.read, ${name}.write]`,
    '      # callers: [...]      services that call it (the NetworkPolicy admits them)',
    '      # dependsOn: [...]    services it calls',
    '      # cache: true         if it reads through the site\'s Redis',
    '      # imageDigest: sha256:...   on air-gapped sites, the mirrored image\'s digest',
    '',
  ].join('\n');
}

function pascal(text) {
  return text
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
