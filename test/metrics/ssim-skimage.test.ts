import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Image } from '../../src/core/image.js';
import { readImage } from '../../src/core/io.js';
import { resizeImage } from '../../src/core/resample.js';
import { structuralSimilarity } from '../../src/metrics/ssim.js';
import { gradientImage, noiseImage, tempDir } from '../helpers/fixtures.js';

/**
 * Cross-check against scikit-image's structural_similarity (gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=1), per channel. Skipped when no Python with scikit-image
 * is found (CI installs Debian's python3-skimage through scripts/system-deps.sh). The dev images
 * beside the project are used when present; generated images always.
 */

function findPython(): string | undefined {
  for (const exe of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(exe, ['-c', 'import skimage.metrics'], { encoding: 'utf8' });
    if (r.status === 0) return exe;
  }
  return undefined;
}

const python = findPython();
// The project's checkout sits beside shared/ (dev machines and CI alike).
const DEV = path.resolve(__dirname, '../../../shared/data/dev');
const devPairs: [string, string][] = [
  ['content/stata.jpg', 'style/seaport.jpg'],
  ['content/beach.jpg', 'style/udnie.jpg'],
  ['photoreal/content/in1.png', 'photoreal/style/tar1.png'],
];

const SCRIPT = `
import sys, json, numpy as np
from skimage.metrics import structural_similarity
out = []
for spec in json.loads(sys.argv[1]):
    c, h, w = spec['shape']
    a = np.fromfile(spec['a'], dtype=np.float32).reshape(c, h, w).astype(np.float64)
    b = np.fromfile(spec['b'], dtype=np.float32).reshape(c, h, w).astype(np.float64)
    out.append([float(structural_similarity(a[k], b[k], gaussian_weights=True, sigma=1.5,
                use_sample_covariance=False, data_range=1)) for k in range(c)])
print(json.dumps(out))
`;

function skimageSsim(pairs: [Image, Image][]): number[][] {
  const tmp = tempDir('atelier-ssim-');
  try {
    const specs = pairs.map(([a, b], i) => {
      writeFileSync(tmp.file(`${i}a.f32`), a.data);
      writeFileSync(tmp.file(`${i}b.f32`), b.data);
      return { a: tmp.file(`${i}a.f32`), b: tmp.file(`${i}b.f32`), shape: [a.channels, a.height, a.width] };
    });
    const r = spawnSync(python!, ['-c', SCRIPT, JSON.stringify(specs)], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as number[][];
  } finally {
    tmp.cleanup();
  }
}

describe.skipIf(!python)('ssim agrees with scikit-image', () => {
  it('on generated images, within 1e-6', () => {
    const pairs: [Image, Image][] = [
      [gradientImage(64, 48), noiseImage(64, 48, 2)],
      [noiseImage(33, 51, 4), noiseImage(33, 51, 5, [0.4, 0.5, 0.6], 0.1)],
    ];
    const reference = skimageSsim(pairs);
    pairs.forEach(([a, b], i) => {
      const ours = structuralSimilarity(a, b).parts;
      ['r', 'g', 'b'].forEach((c, k) => expect(Math.abs(ours[c]! - reference[i]![k]!)).toBeLessThan(1e-6));
    });
  });

  it.skipIf(!existsSync(DEV))('on the dev images, within 1e-3', async () => {
    const pairs: [Image, Image][] = [];
    for (const [c, s] of devPairs) {
      const a = await readImage(path.join(DEV, c));
      const b = await readImage(path.join(DEV, s));
      pairs.push([a, resizeImage(b, a.width, a.height)]);
    }
    const reference = skimageSsim(pairs);
    pairs.forEach(([a, b], i) => {
      const ours = structuralSimilarity(a, b);
      ['r', 'g', 'b'].forEach((c, k) => expect(Math.abs(ours.parts[c]! - reference[i]![k]!)).toBeLessThan(1e-3));
      const mean = reference[i]!.reduce((x, y) => x + y, 0) / 3;
      expect(Math.abs(ours.value - mean)).toBeLessThan(1e-3);
    });
  });
});
