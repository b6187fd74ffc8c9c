import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { AtelierError } from '../../src/core/errors.js';
import { Image } from '../../src/core/image.js';
import { FAMILY_BYTES_PER_PIXEL, WEIGHTS_LOADED_FACTOR, checkMemoryBudget, estimateRunMemory, parseMemorySize } from '../../src/core/memory-budget.js';
import { closeSync, mkdirSync, openSync, ftruncateSync } from 'node:fs';
import { runMethod } from '../../src/core/stylize.js';
import { listMethods, methods } from '../../src/methods/index.js';
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

  it('every network states its measured profile (bench/memory.mjs), never the family’s guess', () => {
    const networks = listMethods().filter((m) => m.family === 'neural' || m.family === 'diffusion');
    expect(networks.length).toBeGreaterThanOrEqual(10);
    for (const def of networks) expect(def.memory, `${def.id} states no memory profile`).toBeDefined();
  });

  it('a tiled network costs its tile, its load and what it keeps of the whole image; more tile, more memory', () => {
    const fast = methods['neural.fast'];
    const sizes4k = { content: { width: 3840, height: 2160 }, styles: [], others: [], decoded: true };
    const params = { weights: 'random', strokeScale: 1, tileSize: 1536, model: 'fst-pytorch-mosaic' };
    const e = estimateRunMemory(fast, sizes4k, undefined, params);
    expect(e.pixelsAtOnce).toBe(1536 * 1536);
    expect(e.workingPixels).toBe(3840 * 2160);
    // The profile's own parts, added by hand: FIXED (150 MiB) + load + tile + whole image + decoding.
    const profile = fast.memory!;
    const byHand = 150 * 2 ** 20 + profile.loadBytes! + (profile.bytesPerPixel as number) * 1536 ** 2 + profile.wholeBytesPerPixel! * 3840 * 2160 + 15 * 3840 * 2160;
    expect(e.bytes).toBeCloseTo(byHand, -3);
    // Smaller tiles, less memory; the same image in one piece, more (its own buffers are in the slope).
    expect(estimateRunMemory(fast, sizes4k, undefined, { ...params, tileSize: 512 }).bytes).toBeLessThan(e.bytes);
    const whole = estimateRunMemory(fast, sizes4k, undefined, { ...params, tileSize: 4096 });
    expect(whole.bytes).toBeCloseTo(150 * 2 ** 20 + profile.loadBytes! + (profile.bytesPerPixel as number) * 3840 * 2160 + 15 * 3840 * 2160, -3);
    expect(whole.bytes).toBeGreaterThan(1.4 * e.bytes);
    // strokeScale 2 runs the network at a quarter of the pixels.
    const small = { content: { width: 1000, height: 1000 }, styles: [], others: [], decoded: true };
    expect(estimateRunMemory(fast, small, undefined, { ...params, strokeScale: 2 }).pixelsAtOnce).toBe(250_000);
  });

  it('counts the weights a run reads (a file given as weights: its size, loaded into a session)', () => {
    const tmp = tempDir('atelier-weight-bytes-');
    try {
      // A sparse 600 MB "weights folder": its size is what counts, no disk is used.
      mkdirSync(tmp.file('vgg'));
      const fd = openSync(tmp.file('vgg/weights.pth'), 'w');
      ftruncateSync(fd, 600 * 2 ** 20);
      closeSync(fd);
      const adain = methods['neural.adain'];
      const sizes1 = { content: { width: 512, height: 512 }, styles: [{ width: 512, height: 512 }], others: [], decoded: true };
      const base = { alpha: 1, tileSize: 1024 };
      const random = estimateRunMemory(adain, sizes1, undefined, { ...base, weights: 'random' });
      const fromFolder = estimateRunMemory(adain, sizes1, undefined, { ...base, weights: tmp.file('vgg') });
      expect(fromFolder.bytes - random.bytes).toBeCloseTo(WEIGHTS_LOADED_FACTOR * 600 * 2 ** 20, -1);
      expect(fromFolder.loadBytes).toBeCloseTo(adain.memory!.loadBytes! + WEIGHTS_LOADED_FACTOR * 600 * 2 ** 20, -1);
      // A path that does not exist counts nothing: the run stops on that first, with its own error.
      expect(estimateRunMemory(adain, sizes1, undefined, { ...base, weights: tmp.file('nowhere') }).bytes).toBe(random.bytes);
      // Refused with the weights named, and the hint says a smaller image would not help when they are most of it.
      const e = caught(() => checkMemoryBudget(adain, sizes1, undefined, 1024 * 2 ** 20, true, { ...base, weights: tmp.file('vgg') }));
      expect(e.code).toBe('E_TOO_LARGE');
      expect(e.received).toMatch(/\d+ MiB for its weights and sessions/);
    } finally {
      tmp.cleanup();
    }
  });

  it('diffusion works at its own size: the content’s size barely matters, its size param does', () => {
    const img2img = methods['diffusion.img2img'];
    const p = { weights: 'random', adapter: 'random', size: 512 };
    const at = (w: number, h: number, q = p) => estimateRunMemory(img2img, { content: { width: w, height: h }, styles: [], others: [], decoded: false }, undefined, q);
    expect(at(4000, 3000).pixelsAtOnce).toBe(512 * 512);
    expect(at(1000, 1000).pixelsAtOnce).toBe(512 * 512);
    expect(at(1024, 1024, { ...p, size: 1024 }).pixelsAtOnce).toBe(1024 * 1024);
    expect(at(1024, 1024, { ...p, size: 1024 }).bytes).toBeGreaterThan(at(1024, 1024).bytes);
    // Attention grows with the square of the tokens: twice the side, sixteen times the score maps.
    const attention = (size: number) => at(64, 64, { ...p, size }).bytes - 1536 * size * size;
    expect((attention(256) - attention(128)) / (attention(128) - attention(64))).toBeCloseTo(16, 0);
    // Refused with the --size that fits (a smaller --max-size would not help: the size is its own).
    const sizes = { content: { width: 512, height: 512 }, styles: [], others: [], decoded: false };
    const e = caught(() => checkMemoryBudget(img2img, sizes, undefined, 2 * 2 ** 30, true, { ...p, size: 1024 }));
    expect(e.code).toBe('E_TOO_LARGE');
    const fits = Number(/lower --size to (\d+) \(less worked on at once\)/.exec(e.hint!)![1]);
    expect(estimateRunMemory(img2img, sizes, undefined, { ...p, size: fits }).bytes).toBeLessThanOrEqual(2 * 2 ** 30);
    expect(estimateRunMemory(img2img, sizes, undefined, { ...p, size: fits + 64 }).bytes).toBeGreaterThan(2 * 2 ** 30);
    // Weights that are not there: no refusal for memory, the run stops on the missing model with its own error.
    const missing = checkMemoryBudget(img2img, sizes, undefined, 2 * 2 ** 30, true, { ...p, weights: '/nowhere/sd15.safetensors', size: 1024 });
    expect(missing.weightsMissing).toBe(true);
  });
});
