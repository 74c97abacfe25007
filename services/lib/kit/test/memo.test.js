// The token memo's worst case, in a real process that loaded what a service loads: a stream of
// large distinct tokens (about 10 KB, many claims) keeps it within its byte bound and the heap
// within half the smallest profile's memory limit; the count bound it had before did not. The
// JavaScript heap is what the memo holds (tokens and payloads); the process's RSS also keeps the
// generator's freed Buffers here, so it is reported, not asserted.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { MEMO_MAX_BYTES } from '@natplat/service-kit';

const FILL = fileURLToPath(new URL('./fixtures/memo-fill.js', import.meta.url));
const SMALLEST_LIMIT = 192 * 2 ** 20; // the `small` profile's services memoryLimit (infra/natplat/spec/profiles.py)
const MIB = 2 ** 20;

function fill(entries, bound) {
  const out = execFileSync(process.execPath, ['--expose-gc', FILL, String(entries), String(bound)], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').at(-1));
}

test('20,000 large distinct tokens: the memo stays within its bytes, the heap within half the smallest limit', () => {
  const bounded = fill(20_000, MEMO_MAX_BYTES);
  assert.ok(bounded.tokenBytes > 9000, `tokens of ${bounded.tokenBytes} bytes`);
  assert.ok(bounded.accounted <= MEMO_MAX_BYTES);
  assert.ok(bounded.remembered < 20_000 && bounded.remembered > 100, `${bounded.remembered} remembered`);
  // The memo's own accounting is not an underestimate of what V8 really holds for it.
  const empty = fill(0, MEMO_MAX_BYTES);
  assert.ok(bounded.heapUsed - empty.heapUsed <= bounded.accounted * 1.25, JSON.stringify({ bounded, empty }));
  // Half the limit left for the rest of the service's work.
  assert.ok(bounded.heapUsed < SMALLEST_LIMIT / 2, `heap ${Math.round(bounded.heapUsed / MIB)} MiB`);
  console.log(`bounded memo: ${bounded.remembered} tokens of ${bounded.tokenBytes} B, RSS ${Math.round(bounded.rss / MIB)} MiB, heap ${Math.round(bounded.heapUsed / MIB)} MiB (empty: RSS ${Math.round(empty.rss / MIB)} MiB)`);
});

test('the count bound it replaced (10,000 entries) takes the same process past the smallest limit', () => {
  const counted = fill(12_000, 'count');
  assert.equal(counted.remembered, 10_000);
  assert.ok(counted.heapUsed > SMALLEST_LIMIT, `heap ${Math.round(counted.heapUsed / MIB)} MiB`);
  console.log(`count-bounded memo: heap ${Math.round(counted.heapUsed / MIB)} MiB, RSS ${Math.round(counted.rss / MIB)} MiB`);
});
