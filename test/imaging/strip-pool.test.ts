import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import type { Image } from '../../src/core/image.js';
import type { ProgressEvent } from '../../src/core/progress.js';
import { runMethod } from '../../src/core/stylize.js';
import { BLOCK_PIXELS, MAX_STRIP_PIXELS, planStrips, type TileFunction, type TileJob } from '../../src/imaging/strip-pool.js';
import { listMethods } from '../../src/index.js';
import { noiseImage, stripesImage } from '../helpers/fixtures.js';

/**
 * The strip pool cuts images into row blocks that are its unit of progress and of cancellation
 * (issue 20). Blocks must not change the pixels: every filter that runs through the pool is run
 * on a 512×384 image (six blocks) and its tile function is run again on the whole image in one
 * piece; the two must agree. A margin too small for a filter's reach shows up here.
 */

const calls = vi.hoisted(() => [] as { img: Image; margin: number; job: TileJob<unknown>; tileFn: TileFunction<unknown>; blocks: Image }[]);

vi.mock('../../src/imaging/strip-pool.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/imaging/strip-pool.js')>();
  return {
    ...real,
    mapStripsParallel: async (img: Image, margin: number, outChannels: number, job: TileJob<unknown>, tileFn: TileFunction<unknown>, ctx: Parameters<typeof real.mapStripsParallel>[5]) => {
      const input = img.clone();
      const blocks = await real.mapStripsParallel(img, margin, outChannels, job, tileFn, ctx);
      // A copy: the pipeline clamps the result in place afterwards.
      calls.push({ img: input, margin, job, tileFn, blocks: blocks.clone() });
      return blocks;
    },
  };
});

describe('planStrips', () => {
  it('cuts row blocks of about BLOCK_PIXELS that cover every row once, at least ten margins tall', () => {
    for (const [w, h, margin] of [[512, 512, 11], [1024, 768, 20], [4000, 3000, 40], [300, 7000, 3]] as const) {
      const plan = planStrips(w, h, margin);
      let y = 0;
      for (const s of plan) {
        expect(s.y0).toBe(y);
        expect(s.top).toBe(Math.max(0, s.y0 - Math.ceil(margin)));
        expect(s.bottom).toBe(Math.min(h, s.y1 + Math.ceil(margin)));
        y = s.y1;
      }
      expect(y).toBe(h);
      const rows = plan[0]!.y1 - plan[0]!.y0;
      if (plan.length > 1) {
        expect(rows).toBeGreaterThanOrEqual(Math.min(10 * margin, Math.max(16, Math.floor(MAX_STRIP_PIXELS / w), 4 * margin)));
        expect(rows * w).toBeLessThanOrEqual(Math.max(BLOCK_PIXELS + w, 10 * margin * w + w, 16 * w));
      }
    }
    // A 512² image with a small reach is four blocks: progress and chances to stop between them.
    expect(planStrips(512, 512, 11)).toHaveLength(4);
    // The memory cap still wins over the ten-margin rule on wide images.
    const wide = planStrips(8000, 6000, 40);
    expect((wide[0]!.bottom - wide[0]!.top) * 8000).toBeLessThanOrEqual(4 * MAX_STRIP_PIXELS);
  });
});

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const filters = listMethods().filter((m) => m.family === 'filter');

describe('strip filters in row blocks', () => {
  it('covers the filters', () => expect(filters.length).toBeGreaterThanOrEqual(6));

  for (const def of filters) {
    it(`${def.id}: the same pixels in blocks as in one piece, with progress between`, async () => {
      calls.length = 0;
      const content = noiseImage(512, 384, 3, [0.5, 0.45, 0.4], 0.2);
      // Structure the filters react to: stripes blended into the noise.
      const stripes = stripesImage(512, 384, 40);
      for (let i = 0; i < content.data.length; i++) content.data[i] = 0.6 * content.data[i]! + 0.4 * stripes.data[i]!;
      const events: ProgressEvent[] = [];
      await runMethod(def, { content }, {}, { threads: 1, onProgress: (e) => events.push(e) });
      expect(calls.length).toBeGreaterThanOrEqual(1);
      for (const c of calls) {
        const whole = c.tileFn(c.img, 0, c.job.options);
        let maxDiff = 0;
        for (let i = 0; i < whole.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole.data[i]! - c.blocks.data[i]!));
        expect(maxDiff, `${def.id}: largest difference between blocks and one piece`).toBeLessThan(1e-4);
      }
      const between = events.filter((e) => e.type === 'step' && e.fraction > 0 && e.fraction < 1);
      expect(between.length, `${def.id} progress events strictly between start and done`).toBeGreaterThanOrEqual(1);
      // Its preparation is over before the first step above 0 %: a step 0 marks where time left is counted from.
      const first = events.findIndex((e) => e.fraction > 0);
      expect(events.slice(1, first).some((e) => e.type === 'step' && e.step === 0), `${def.id} reports step 0 before its first progress`).toBe(true);
    }, 60_000);
  }
});

/**
 * Built code sends strips to worker threads by transferring their buffers. A one-block image's
 * strip is the caller's own image, and transferring it once detached the caller's pixels (found
 * by the artistic benchmark, which measured the content after a kuwahara run and read an empty
 * buffer). Every strip filter, compiled, on a one-block image: the inputs must come back as they
 * went in. (Several blocks are cut as copies, so they never had the fault.)
 */
const compiledStylize = path.join(root, 'dist/core/stylize.js');
describe.skipIf(!existsSync(compiledStylize))('strip filters leave the caller’s images alone (compiled, worker threads)', () => {
  for (const id of filters.map((f) => f.id)) {
    it(id, async () => {
      const { runMethod: run } = (await import(compiledStylize)) as typeof import('../../src/core/stylize.js');
      const { getMethod } = (await import(path.join(root, 'dist/methods/index.js'))) as typeof import('../../src/methods/index.js');
      const { Image: CompiledImage } = (await import(path.join(root, 'dist/core/image.js'))) as typeof import('../../src/core/image.js');
      for (const [w, h] of [[96, 64]] as const) {
        const src = noiseImage(w, h, 3, [0.5, 0.45, 0.4], 0.2);
        const content = new CompiledImage(w, h, 3, src.data.slice());
        const style = new CompiledImage(64, 64, 3, noiseImage(64, 64, 3, [0.3, 0.5, 0.6], 0.2).data);
        const styleBefore = style.data.slice();
        await run(getMethod(id), { content, style }, {}, { threads: 2 });
        expect(content.data.byteLength, `${id} ${w}×${h}: the content's buffer`).toBe(src.data.byteLength);
        expect(content.data).toEqual(src.data);
        expect(style.data).toEqual(styleBefore);
      }
    }, 60_000);
  }
});

const compiledWorker = path.join(root, 'dist/imaging/strip-worker.js');

describe.skipIf(!existsSync(compiledStylize) || !existsSync(compiledWorker))('strip workers in a process started with flags workers refuse (needs `npm run build`)', () => {
  // `node --expose-gc` (the memory bench, a user's profiling run) made every pool worker fail
  // with ERR_WORKER_INVALID_EXEC_ARGV, so every filter and colour method failed in that process.
  it('filter.pencil runs through its workers under node --expose-gc', () => {
    const script = `
      const { runMethod } = await import(${JSON.stringify(pathToFileURL(compiledStylize).href)});
      const { getMethod } = await import(${JSON.stringify(pathToFileURL(path.join(root, 'dist/methods/index.js')).href)});
      const { Image } = await import(${JSON.stringify(pathToFileURL(path.join(root, 'dist/core/image.js')).href)});
      const content = new Image(300, 200, 3);
      for (let i = 0; i < content.data.length; i++) content.data[i] = (i % 97) / 97;
      const r = await runMethod(getMethod('filter.pencil'), { content }, {}, { threads: 2 });
      console.log(JSON.stringify({ width: r.image.width, height: r.image.height }));`;
    const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).not.toMatch(/ERR_WORKER_INVALID_EXEC_ARGV/);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').at(-1)!)).toEqual({ width: 300, height: 200 });
  }, 90_000);
});
