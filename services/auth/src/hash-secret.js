// Prints the scrypt hash of a client secret read from stdin, for `auth.clients[].secretHash`:
//   head -c 32 /dev/urandom | base64 | tee client-secret.txt | node src/hash-secret.js
import { text } from 'node:stream/consumers';

import { hashSecret } from './clients.js';

const secret = (await text(process.stdin)).trim();
if (secret.length < 24) {
  process.stderr.write('a client secret must be at least 24 characters\n');
  process.exit(1);
}
process.stdout.write(`${await hashSecret(secret)}\n`);
