import { describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { matchRegions } from '../../../src/core/mask.js';
import { Rng } from '../../../src/core/rng.js';
import { mkl, mongeKantorovichMatrix } from '../../../src/methods/color/mkl.js';
import { channelCovariance } from '../../../src/methods/color/statistics.js';
import { multiply } from '../../../src/methods/color/symmetric-matrix.js';
import { flatImage, noiseImage } from '../../helpers/fixtures.js';
import { runDirect, twoColorStyle, twoRegionMap } from './run-direct.js';

/** An RGB image whose pixels are a Gaussian cloud N(mean, L Lᵀ). */
function gaussianCloud(width: number, height: number, seed: number, mean: number[], l: number[]): Image {
  const rng = new Rng(seed);
  const img = new Image(width, height, 3);
  for (let i = 0; i < img.pixels; i++) {
    const z = [rng.normal(), rng.normal(), rng.normal()];
    for (let a = 0; a < 3; a++) {
      let v = mean[a]!;
      for (let b = 0; b < 3; b++) v += l[a * 3 + b]! * z[b]!;
      img.plane(a)[i] = v;
    }
  }
  return img;
}

describe('color.mkl', () => {
  it("maps a Gaussian cloud onto the style's mean and full covariance", async () => {
    const content = gaussianCloud(80, 60, 1, [0.4, 0.5, 0.45], [0.1, 0, 0, 0.05, 0.06, 0, -0.02, 0.03, 0.04]);
    const style = gaussianCloud(70, 50, 2, [0.6, 0.4, 0.3], [0.05, 0, 0, -0.03, 0.08, 0, 0.01, 0.02, 0.02]);
    const out = await runDirect(mkl, content, style, { space: 'rgb', smooth: 0 });
    const o = channelCovariance(out);
    const s = channelCovariance(style);
    for (let a = 0; a < 3; a++) expect(o.mean[a]).toBeCloseTo(s.mean[a]!, 5);
    for (let k = 0; k < 9; k++) expect(Math.abs(o.cov[k]! - s.cov[k]!)).toBeLessThan(1e-6);
    // And the covariance really differed before (not a trivial pass).
    const c = channelCovariance(content);
    expect(Math.max(...c.cov.map((v, k) => Math.abs(v - s.cov[k]!)))).toBeGreaterThan(1e-3);
  });

  it('solves T Σc T = Σs with a symmetric T', () => {
    const cc = Float64Array.from([0.02, 0.004, 0.001, 0.004, 0.01, 0.002, 0.001, 0.002, 0.005]);
    const cs = Float64Array.from([0.01, -0.003, 0.0, -0.003, 0.03, 0.004, 0.0, 0.004, 0.008]);
    const t = mongeKantorovichMatrix(cc, cs, 1e-9);
    const tct = multiply(multiply(t, cc, 3), t, 3);
    for (let k = 0; k < 9; k++) expect(tct[k]).toBeCloseTo(cs[k]!, 12);
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) expect(t[a * 3 + b]).toBeCloseTo(t[b * 3 + a]!, 12);
  });

  it('stays finite on flat and rank-deficient content, landing on the style mean', async () => {
    const style = noiseImage(30, 30, 3, [0.6, 0.4, 0.3], 0.1);
    const flat = await runDirect(mkl, flatImage(20, 20, [0.2, 0.2, 0.2]), style, { smooth: 0 });
    const s = channelCovariance(style);
    for (let a = 0; a < 3; a++) for (const v of flat.plane(a)) expect(v).toBeCloseTo(s.mean[a]!, 5);
    // Grey ramp: all three channels equal (rank 1 covariance).
    const grey = new Image(20, 20, 3);
    for (let i = 0; i < 400; i++) for (let a = 0; a < 3; a++) grey.plane(a)[i] = (i % 20) / 19;
    const out = await runDirect(mkl, grey, style, { smooth: 0 });
    for (const v of out.data) expect(Number.isFinite(v)).toBe(true);
  });

  it('maps each labelled region onto its style region', async () => {
    const content = noiseImage(40, 20, 4, [0.5, 0.5, 0.5], 0.2);
    const style = twoColorStyle(40, 20, 10);
    const regions = matchRegions(twoRegionMap(40, 20, 20), twoRegionMap(40, 20, 10));
    const out = await runDirect(mkl, content, style, { smooth: 0 }, regions);
    for (const label of [0, 1]) {
      const ci = Int32Array.from([...regions.content.keys()].filter((i) => regions.content[i] === label));
      const si = Int32Array.from([...regions.style.keys()].filter((i) => regions.style[i] === label));
      const o = channelCovariance(out, ci);
      const t = channelCovariance(style, si);
      for (let k = 0; k < 9; k++) expect(Math.abs(o.cov[k]! - t.cov[k]!)).toBeLessThan(1e-6);
      for (let a = 0; a < 3; a++) expect(o.mean[a]).toBeCloseTo(t.mean[a]!, 5);
    }
  });
});
