import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { interpolationMatrix, resizeByMatrices } from '../../src/engine/augment/interpolation-matrix.js';
import { cropSampling, homography, perspectiveCropsGraph, samplePerspectiveCrops } from '../../src/engine/augment/perspective-crops.js';
import { Graph } from '../../src/engine/graph/graph.js';
import { directionalLossRows, thresholdedMean } from '../../src/engine/losses/clip-directional.js';
import { totalVariationNorms } from '../../src/engine/losses/style-losses.js';
import type { ClipVisionWeights } from '../../src/engine/nets/clip/checkpoint.js';
import { buildClipImageGraph, clipPixelNormalization } from '../../src/engine/nets/clip/image-encoder.js';
import type { LinearWeights, NormWeights } from '../../src/engine/nets/transformer-layers.js';
import { gradientCheck } from './gradcheck.js';

/**
 * What CLIP-guided optimisation (neural.clipstyler) differentiates, against float64 central
 * differences of the reference interpreter: the ViT image tower end to end (patch conv, class
 * token concatenated in front, position embeddings added, pre-norm, attention with its softmax,
 * QuickGELU MLP, post-norm of the class token, projection), the resizes by interpolation
 * matrices, the perspective crops (gathers), the directional loss rows, the thresholded mean and
 * the four-direction total variation.
 */

const TOL = 2e-4;

function tinyVision(seed: number): ClipVisionWeights {
  const rng = new Rng(seed);
  const width = 8;
  const values = (n: number, scale: number, offset = 0) => Float32Array.from({ length: n }, () => offset + scale * rng.normal());
  const linear = (inF: number, outF: number): LinearWeights => ({ weight: values(inF * outF, 1 / Math.sqrt(inF)), bias: values(outF, 0.1), inFeatures: inF, outFeatures: outF });
  const norm = (): NormWeights => ({ weight: values(width, 0.2, 1), bias: values(width, 0.1) });
  return {
    config: { width, layers: 1, heads: 2, patchSize: 4, imageSize: 8, embedDim: 6 },
    patchEmbedding: values(width * 3 * 16, 0.15),
    classEmbedding: values(width, 0.5),
    positionEmbedding: values(5 * width, 0.5),
    preNorm: norm(),
    blocks: [{ norm1: norm(), q: linear(width, width), k: linear(width, width), v: linear(width, width), out: linear(width, width), norm2: norm(), fc1: linear(width, 4 * width), fc2: linear(4 * width, width) }],
    postNorm: norm(),
    projection: { weight: values(6 * width, 1 / Math.sqrt(width)), inFeatures: width, outFeatures: 6 },
  };
}

describe('CLIP-guided losses: backward rules against float64 finite differences', () => {
  it('the ViT image tower, pixels to projected embedding (batch 2)', async () => {
    const w = tinyVision(4);
    const r = await gradientCheck((g) => buildClipImageGraph(g, w, clipPixelNormalization(g, g.input('x', [2, 3, 8, 8])), 2).embeds!, { x: [2, 3, 8, 8] }, { samples: 12 });
    expect(r.worst, JSON.stringify(r.perTensor)).toBeLessThan(TOL);
  }, 120_000);

  it('resizes by bilinear and bicubic matrices, up and down, non-square', async () => {
    const r = await gradientCheck((g) => {
      const x = g.input('x', [1, 2, 7, 9]);
      return g.add(g.reshape(resizeByMatrices(g, x, 5, 5, 'bicubic'), [1, 2, -1]), g.reshape(resizeByMatrices(g, g.slice(x, [3], [0], [7]), 5, 5, 'bilinear'), [1, 2, -1]));
    }, { x: [1, 2, 7, 9] });
    expect(r.worst, JSON.stringify(r.perTensor)).toBeLessThan(TOL);
  });

  it('perspective crops (four weighted gathers)', async () => {
    const geometry = samplePerspectiveCrops(new Rng(3), 11, 9, 6, 3);
    const s = cropSampling(geometry, 11);
    const r = await gradientCheck((g) => {
      const x = g.input('x', [1, 3, 9, 11]);
      const index = g.int64(Array.from(s.index, Number));
      return perspectiveCropsGraph(g, x, 3, 6, index, g.constant(s.weight, [4, s.weight.length / 4]));
    }, { x: [1, 3, 9, 11] });
    expect(r.worst, JSON.stringify(r.perTensor)).toBeLessThan(TOL);
  });

  it('directional loss rows, thresholded mean and four-direction total variation', async () => {
    const r = await gradientCheck((g) => {
      const f = g.input('x', [4, 5]);
      const unit = (v: number[]) => {
        const n = Math.hypot(...v);
        return v.map((a) => a / n);
      };
      const rows = directionalLossRows(g, f, g.constant(unit([0.3, -0.2, 0.5, 0.1, 0.4]), [1, 5]), g.constant(unit([-0.1, 0.6, 0.2, -0.3, 0.2]), [1, 5]));
      const image = g.reshape(g.slice(f, [0], [0], [4]), [1, 1, 4, 5]);
      return g.add(g.add(thresholdedMean(g, rows, 1), g.reduceSum(rows, [0, 1])), totalVariationNorms(g, image));
    }, { x: [4, 5] });
    expect(r.worst, JSON.stringify(r.perTensor)).toBeLessThan(TOL);
  });
});

describe('resampling facts', () => {
  it('interpolation matrices: rows sum to 1, same size is the identity, bicubic matches Keys at a known point', () => {
    for (const kind of ['bilinear', 'bicubic'] as const) {
      for (const [n, m] of [[7, 3], [3, 7], [128, 224], [512, 224]] as const) {
        const a = interpolationMatrix(n, m, kind);
        for (let o = 0; o < m; o++) {
          let s = 0;
          for (let i = 0; i < n; i++) s += a[o * n + i]!;
          expect(s).toBeCloseTo(1, 12);
        }
      }
      const id = interpolationMatrix(5, 5, kind);
      id.forEach((v, k) => expect(v).toBeCloseTo(Math.floor(k / 5) === k % 5 ? 1 : 0, 12));
    }
    // ×2 upsampling, output 4 reads source 1.75: t = 0.75, Keys a = −0.75 weights on inputs 0..3.
    const up = interpolationMatrix(4, 8, 'bicubic');
    const t = 0.75;
    const near = (x: number) => (1.25 * x - 2.25) * x * x + 1;
    const far = (x: number) => ((-0.75 * x + 3.75) * x - 6) * x + 3;
    [far(1 + t), near(t), near(1 - t), far(2 - t)].forEach((w, k) => expect(up[4 * 4 + k]).toBeCloseTo(w, 12));
  });

  it('the homography takes each corner where it was asked to', () => {
    const from: [number, number][] = [[3, 1], [60, 5], [58, 62], [2, 59]];
    const to: [number, number][] = [[0, 0], [63, 0], [63, 63], [0, 63]];
    const [a, b, c, d, e, f, g, h] = homography(from, to);
    from.forEach(([x, y], i) => {
      const den = g! * x + h! * y + 1;
      expect((a! * x + b! * y + c!) / den).toBeCloseTo(to[i]![0], 9);
      expect((d! * x + e! * y + f!) / den).toBeCloseTo(to[i]![1], 9);
    });
  });
});
