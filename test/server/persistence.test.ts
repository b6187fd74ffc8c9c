import { afterAll, expect, it } from 'vitest';
import { readImage } from '../../src/core/io.js';
import { tempDir } from '../helpers/fixtures.js';
import { samplePngs } from './helpers.js';
import { getJob, postJob, startAtelier, startHeld, waitJob, type Child } from './processes.js';

/**
 * A server process is killed (SIGKILL: no chance to clean up) while a job runs and another waits;
 * a real `atelier serve` on the same data directory runs both to completion.
 */

const tmp = tempDir('atelier-persist-');
const children: Child[] = [];
afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
  tmp.cleanup();
});

it('jobs survive a crash of the server', async () => {
  const { content, style } = await samplePngs();
  const args = ['serve', '--port', '0', '--data-dir', tmp.dir, '--concurrency', '1', '--quiet'];
  // The compiled server with each job held 10 s, so the first is surely mid-run when the process dies.
  const first = await startHeld('serve', tmp.dir, 10_000);
  children.push(first);
  const base1 = first.ready.replace('listening on ', '');
  const running = await postJob(base1, content, style, { strength: '0.9' });
  const waiting = await postJob(base1, content, style, { strength: '0.4' });
  await waitJob(base1, running.id, (j) => j.status === 'running');
  expect((await getJob(base1, waiting.id)).status).toBe('queued');
  await first.kill('SIGKILL');

  const second = await startAtelier(args);
  children.push(second);
  const base2 = second.ready.replace('listening on ', '');
  const a = await waitJob(base2, running.id, (j) => j.status === 'done');
  const b = await waitJob(base2, waiting.id, (j) => j.status === 'done');
  expect(a.attempts).toBe(2); // interrupted once, run again
  expect(b.attempts).toBe(1);
  expect(a.resolvedParams.strength).toBe(0.9);
  const png = Buffer.from(await (await fetch(`${base2}${a.links.result}`)).arrayBuffer());
  const img = await readImage(png);
  expect([img.width, img.height]).toEqual([64, 48]);
  // Nothing finished is lost across a clean restart either.
  await second.kill('SIGTERM');
  const third = await startAtelier(args);
  children.push(third);
  const base3 = third.ready.replace('listening on ', '');
  expect((await getJob(base3, running.id)).status).toBe('done');
  const history = (await (await fetch(`${base3}/api/jobs`)).json()) as { total: number };
  expect(history.total).toBe(2);
}, 60_000);
