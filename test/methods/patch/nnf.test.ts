import { describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { Rng } from '../../../src/core/rng.js';
import { gaussianBlurPlane } from '../../../src/imaging/gaussian.js';
import { exactSearch, gatherDescriptors, interleave, patchMatch, patchSampler, queryGrid } from '../../../src/methods/patch/nnf.js';
import { noiseImage } from '../../helpers/fixtures.js';

/** Noise blurred a little: images with the local coherence PatchMatch relies on. */
function smooth(img: Image): Image {
  return Image.fromPlanes(img.width, img.height, [0, 1, 2].map((c) => gaussianBlurPlane(img.plane(c), img.width, img.height, 1.5)));
}

function planes(img: Image) {
  return interleave([img.plane(0), img.plane(1), img.plane(2)], img.width, img.height);
}

describe('nearest-neighbour fields', () => {
  it('PatchMatch finds every patch of a crop of the target exactly (distance 0, right place)', () => {
    const target = noiseImage(48, 40, 3);
    const crop = target.crop(11, 7, 24, 20);
    const sampler = patchSampler(5);
    const grid = queryGrid(crop.width, crop.height, 5, 1);
    const queries = gatherDescriptors(planes(crop), sampler, grid.positions);
    const nnf = patchMatch(queries, grid, planes(target), sampler, { rng: new Rng(1), iterations: 6 });
    for (let q = 0; q < nnf.index.length; q++) {
      const x = grid.positions[2 * q] + 11;
      const y = grid.positions[2 * q + 1] + 7;
      expect(nnf.index[q]).toBe(y * target.width + x);
      expect(nnf.distance[q]).toBe(0);
    }
  });

  it('PatchMatch converges to the exact nearest neighbours of unrelated images', () => {
    const target = smooth(noiseImage(24, 24, 5));
    const query = smooth(noiseImage(16, 16, 6));
    const sampler = patchSampler(5);
    const grid = queryGrid(16, 16, 5, 1);
    const queries = gatherDescriptors(planes(query), sampler, grid.positions);
    const exact = exactSearch(queries, grid.cols * grid.rows, planes(target), sampler);
    const mean = (d: Float32Array) => d.reduce((a, b) => a + b, 0) / d.length;
    const share = (its: number) => {
      const approx = patchMatch(queries, grid, planes(target), sampler, { rng: new Rng(2), iterations: its });
      for (let q = 0; q < exact.index.length; q++) expect(approx.distance[q]).toBeGreaterThanOrEqual(exact.distance[q] - 1e-5);
      return { same: approx.index.filter((v, i) => v === exact.index[i]).length / approx.index.length, ratio: mean(approx.distance) / mean(exact.distance) };
    };
    const few = share(3);
    const many = share(60);
    expect(many.same).toBeGreaterThan(few.same);
    expect(many.same).toBeGreaterThan(0.9);
    expect(many.ratio).toBeLessThan(1.02);
  });

  it('respects a label constraint in both searches', () => {
    const target = noiseImage(32, 32, 8);
    const query = noiseImage(16, 16, 9);
    const sampler = patchSampler(3);
    const grid = queryGrid(16, 16, 3, 1);
    const queryLabels = Int32Array.from({ length: grid.cols * grid.rows }, (_, q) => (grid.positions[2 * q] < 7 ? 0 : 1));
    const targetLabels = Int32Array.from({ length: 32 * 32 }, (_, i) => ((i % 32) < 16 ? 0 : 1));
    const queries = gatherDescriptors(planes(query), sampler, grid.positions);
    const constraint = { queryLabels, targetLabels };
    const pm = patchMatch(queries, grid, planes(target), sampler, { rng: new Rng(3), iterations: 4, constraint });
    const ex = exactSearch(queries, grid.cols * grid.rows, planes(target), sampler, constraint);
    for (let q = 0; q < queryLabels.length; q++) {
      expect(targetLabels[pm.index[q]]).toBe(queryLabels[q]);
      expect(targetLabels[ex.index[q]]).toBe(queryLabels[q]);
    }
  });

  it('samples large patches on a lattice and covers the image with its grid', () => {
    const s = patchSampler(33, 7);
    expect(s.dx.length).toBe(49);
    expect(Math.max(...s.dx)).toBe(32);
    const g = queryGrid(100, 50, 33, 20);
    const xs = new Set<number>();
    for (let i = 0; i < g.positions.length; i += 2) xs.add(g.positions[i]);
    expect([...xs].sort((a, b) => a - b)).toEqual([0, 20, 40, 60, 67]);
  });
});
