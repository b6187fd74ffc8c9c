import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { AtelierError } from '../../src/core/errors.js';
import { Image } from '../../src/core/image.js';
import { FAMILY_BYTES_PER_PIXEL, checkMemoryBudget, estimateRunMemory, parseMemorySize } from '../../src/core/memory-budget.js';
import { runMethod } from '../../src/core/stylize.js';
import { methods } from '../../src/methods/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';

/**
 * Memory bounded before any work (issue 20): a run's peak is estimated from its inputs' headers
 * and the method's bytes per pixel; over the budget it is refused with the estimate, the limit
 * and a working size that fits, before anything is decoded.
 */

const mkl = methods['color.mkl'];
const sizes = (w: number, h: number) => ({ content: { width: w, height: h }, styles: [{ width: 512, height: 512 }], others: [], decoded: true });

function caught(f: () => unknown): AtelierError {
  try {
    f();
  } catch (e) {
    return e as AtelierError;
  }
  throw new Error('expected a refusal');
}

describe('memory budget', () => {
  it('estimates from the working size: the method’s bytes per pixel, decoding and the style', () => {
    const small = estimateRunMemory(mkl, sizes(1000, 1000), undefined);
    const big = estimateRunMemory(mkl, sizes(4000, 4000), undefined);
    expect(small.bytesPerPixel).toBe(FAMILY_BYTES_PER_PIXEL.color);
    // 15 MP more costs the method's and decoding's bytes for each of them.
    expect((big.bytes - small.bytes) / 15e6).toBeGreaterThan(FAMILY_BYTES_PER_PIXEL.color);
    expect((big.bytes - small.bytes) / 15e6).toBeLessThan(FAMILY_BYTES_PER_PIXEL.color + 40);
    // maxSize shrinks the working image (the decoded original stays alive beside it).
    const shrunk = estimateRunMemory(mkl, sizes(4000, 4000), 1000);
    expect(shrunk.workingPixels).toBe(1e6);
    expect(shrunk.bytes).toBeLessThan(big.bytes / 2);
  });

  it('refuses over the budget with the estimate, the limit and a --max-size that does fit', () => {
    const budget = 2 * 2 ** 30;
    const e = caught(() => checkMemoryBudget(mkl, sizes(10000, 10000), undefined, budget, true));
    expect(e.code).toBe('E_TOO_LARGE');
    expect(e.message).toMatch(/color\.mkl would need about \d+(\.\d)? GiB for a 10000×10000 content image/);
    expect(e.expected).toBe('at most 2.0 GiB (the memory budget)');
    expect(e.received).toMatch(new RegExp(`^an estimate of \\d+(\\.\\d)? GiB: ${FAMILY_BYTES_PER_PIXEL.color} bytes per pixel of the 100\\.0 MP working image`));
    const side = Number(/--max-size (\d+)/.exec(e.hint!)![1]);
    expect(e.hint).toMatch(/--max-memory \d+G/);
    // The suggestion is honest: at that size the run fits, one step of 64 px more would not by much.
    expect(checkMemoryBudget(mkl, sizes(10000, 10000), side, budget, true).bytes).toBeLessThanOrEqual(budget);
    expect(estimateRunMemory(mkl, sizes(10000, 10000), side + 64).bytes).toBeGreaterThan(budget);
    // Within the budget: nothing to say.
    expect(checkMemoryBudget(mkl, sizes(1000, 800), undefined, budget, true).bytes).toBeLessThan(budget);
  });

  it('parses sizes in binary units and refuses nonsense with the form it wants', () => {
    expect(parseMemorySize('4G', 'x')).toBe(4 * 2 ** 30);
    expect(parseMemorySize('512m', 'x')).toBe(512 * 2 ** 20);
    expect(parseMemorySize('2.5GiB', 'x')).toBe(2.5 * 2 ** 30);
    for (const bad of ['', 'lots', '-1G', '1K', '4 GB extra']) expect(() => parseMemorySize(bad, '--max-memory')).toThrow(expect.objectContaining({ code: 'E_PARAM' }));
  });

  it('runMethod refuses from the header alone: no decode, no progress', async () => {
    const png = await sharp({ create: { width: 6000, height: 4000, channels: 3, background: { r: 90, g: 140, b: 200 } } }).png().toBuffer();
    const style = new Image(32, 32, 3);
    style.data.fill(0.5);
    const events: string[] = [];
    const started = process.memoryUsage().rss;
    const e = await runMethod(mkl, { content: png, style }, {}, { maxMemoryBytes: 512 * 2 ** 20, onProgress: (ev) => events.push(ev.type) }).then(
      () => undefined,
      (err: unknown) => err as AtelierError,
    );
    expect(e?.code).toBe('E_TOO_LARGE');
    expect(events).toEqual([]);
    // 24 MP decoded would be ≥ 288 MB of floats; nothing like it was allocated.
    expect(process.memoryUsage().rss - started).toBeLessThan(150 * 2 ** 20);
    // The same run at a size that fits goes through.
    const ok = await runMethod(mkl, { content: png, style }, { maxSize: 512 }, { maxMemoryBytes: 512 * 2 ** 20 });
    expect([ok.image.width, ok.image.height]).toEqual([512, 341]);
  });

  it('atelier transfer --max-memory: refused before any work, the fix named; a bad size is a usage error', async () => {
    const tmp = tempDir('atelier-memory-');
    try {
      await sharp({ create: { width: 4000, height: 3000, channels: 3, background: { r: 200, g: 120, b: 60 } } }).png().toFile(tmp.file('big.png'));
      await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 20, g: 40, b: 160 } } }).png().toFile(tmp.file('style.png'));
      const r = runCli(['transfer', tmp.file('big.png'), tmp.file('style.png'), '-m', 'color.mkl', '-o', tmp.file('out.png'), '--max-memory', '256M']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/color\.mkl would need about \d+(\.\d)? [MG]iB.*expected at most 256 MiB.*--max-size \d+.*\[E_TOO_LARGE\]/s);
      const bad = runCli(['transfer', tmp.file('big.png'), tmp.file('style.png'), '-m', 'color.mkl', '-o', tmp.file('out.png'), '--max-memory', 'lots']);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/--max-memory must be a memory size.*512M, 4G/);
    } finally {
      tmp.cleanup();
    }
  });
});
