// OAuth clients allowed the client-credentials grant, from a mounted Secret (JSON). Only a
// scrypt hash of each client secret is stored; see hash-secret.js to make one.
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCallback);
const SCOPE = /^[a-z][a-z0-9_.:-]{0,63}$/;
const CLIENT_ID = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;
// N=2^15, r=8, p=1: ~32 MiB and tens of milliseconds per check, the OWASP floor for scrypt.
export const SCRYPT = { N: 32768, r: 8, p: 1, keylen: 32 };
const MAXMEM = 64 * 1024 * 1024;

export async function hashSecret(secret, salt = randomBytes(16)) {
  const { N, r, p, keylen } = SCRYPT;
  const key = await scrypt(secret, salt, keylen, { N, r, p, maxmem: MAXMEM });
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

function parseHash(hash, where) {
  const parts = String(hash).split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') throw new Error(`${where}: secretHash is not a scrypt$N$r$p$salt$key hash`);
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every(Number.isInteger) || N < 16384) throw new Error(`${where}: secretHash has weak or bad scrypt parameters`);
  return { N, r, p, salt: Buffer.from(parts[4], 'base64url'), key: Buffer.from(parts[5], 'base64url') };
}

export function loadClients(file) {
  let document;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${error.message})`);
  }
  if (!Array.isArray(document)) throw new Error(`${file}: must be a JSON list of clients`);
  const clients = new Map();
  document.forEach((entry, index) => {
    const where = `${file}[${index}]`;
    if (!CLIENT_ID.test(entry?.id ?? '')) throw new Error(`${where}: id must be a DNS label`);
    if (clients.has(entry.id)) throw new Error(`${where}: client ${entry.id} is listed twice`);
    if (!Array.isArray(entry.scopes) || entry.scopes.length === 0 || !entry.scopes.every((s) => SCOPE.test(s))) {
      throw new Error(`${where}: scopes must be a non-empty list of scope names`);
    }
    clients.set(entry.id, { id: entry.id, scopes: [...entry.scopes], hash: parseHash(entry.secretHash, where) });
  });
  return clients;
}

// Compared against when the client is unknown, so that an unknown id costs the same time as a
// wrong secret and client ids cannot be probed by timing.
const DECOY = parseHash(`scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${'A'.repeat(22)}$${'A'.repeat(43)}`, 'decoy');

/** The client when `secret` is right, otherwise undefined; constant work either way. */
export async function authenticate(clients, id, secret) {
  const client = clients.get(id);
  const { N, r, p, salt, key } = client?.hash ?? DECOY;
  const derived = await scrypt(String(secret), salt, key.length, { N, r, p, maxmem: MAXMEM });
  const matches = derived.length === key.length && timingSafeEqual(derived, key);
  return client && matches ? client : undefined;
}
