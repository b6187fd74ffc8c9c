import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { interleave, patchMatch, patchSampler, queryGrid } from '../../../src/methods/patch/nnf.js';
import { occurrencePenalty } from '../../../src/methods/patch/occurrence.js';

describe('patch-occurrence penalty', () => {
  it('charges overused style positions by their coverage against the even share', () => {
    // A 20×20 style, 5-px patches (16×16 = 256 start positions); 8 matches all at (2, 3), distance 1.
    const index = new Int32Array(8).fill(3 * 20 + 2);
    const p = occurrencePenalty({ index, distance: new Float32Array(8).fill(1) }, 20, 20, 5, 2);
    // Its footprint is covered 8 times everywhere; the even share is 8·25/256 per pixel.
    const expected = 8 / ((8 * 25) / 256);
    expect(p[3 * 20 + 2]).toBeCloseTo(2 * expected, 4);
    // Half overlapping (shifted by 2 columns of 5 → 3 of 5 covered), and far away: nothing.
    expect(p[3 * 20 + 4]).toBeCloseTo((2 * expected * 3) / 5, 4);
    expect(p[12 * 20 + 12]).toBe(0);
  });

  it('steers PatchMatch from a charged patch to an equal uncharged one', () => {
    // A target with two identical bright 3×3 squares; a query of that square; the first one charged.
    const w = 16;
    const plane = new Float32Array(w * w);
    for (const [x0, y0] of [[2, 2], [10, 9]]) for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) plane[(y0 + y) * w + x0 + x] = 1;
    const target = interleave([plane, plane, plane], w, w);
    const sampler = patchSampler(3);
    const query = new Float32Array(27).fill(1);
    const grid = queryGrid(3, 3, 3, 1);
    const free = patchMatch(query, grid, target, sampler, { rng: new Rng(1), iterations: 10, maxRadius: 16, init: Int32Array.of(0) });
    expect(free.distance[0]).toBe(0);
    // Charge every position around the first square: the search must leave it for the second.
    const penalty = new Float32Array(w * w);
    for (let y = 0; y <= 6; y++) for (let x = 0; x <= 6; x++) penalty[y * w + x] = 100;
    const steered = patchMatch(query, grid, target, sampler, { rng: new Rng(1), iterations: 10, maxRadius: 16, init: Int32Array.of(2 * w + 2), penalty });
    // It ends on the second square (PatchMatch may stop a pixel off it) at a cost below the charge.
    const sx = steered.index[0]! % w;
    const sy = (steered.index[0]! - sx) / w;
    expect(Math.abs(sx - 10)).toBeLessThanOrEqual(1);
    expect(Math.abs(sy - 9)).toBeLessThanOrEqual(1);
    expect(steered.distance[0]).toBeLessThan(100);
  });
});
