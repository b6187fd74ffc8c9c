import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { runChaos } from '../../bench/chaos.mjs';

/**
 * A small chaos run by default (bench/chaos.mjs runs 200 jobs in both modes): jobs go to a real
 * `atelier serve` while it is killed with SIGKILL at random moments and started again. Every
 * acknowledged job ends exactly once, done, with the clean run's bytes; nothing is orphaned.
 */

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
// The Redis run takes as long again; worker kills are also covered by redis.test.ts.
const slow = process.env.ATELIER_SLOW === '1';

it('embedded queue: 16 jobs through 3 server kills, none lost, none run twice after ending, results identical', async () => {
  const r = await runChaos({ jobs: 16, kills: 3, mode: 'embedded', seed: 7 });
  expect(r.violations).toEqual([]);
  expect(r.killed.server).toBe(3);
  expect(r.done).toBe(16);
  expect(r.lost).toBe(0);
}, 240_000);

it.skipIf(!hasRedis || !slow)(`Redis + 2 workers: 16 jobs through 3 kills of workers and the server (${!slow ? 'ATELIER_SLOW=1 runs it' : hasRedis ? 'redis-server present' : 'no redis-server on PATH: skipped'})`, async () => {
  const r = await runChaos({ jobs: 16, kills: 3, mode: 'redis', seed: 3 });
  expect(r.violations).toEqual([]);
  expect(r.killed.server + r.killed.worker).toBe(3);
  expect(r.done).toBe(16);
}, 300_000);
