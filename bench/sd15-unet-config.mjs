// The UNet configurations bench/unet.mjs and bench/diffusion-lora-step.mjs time, and their random
// weights for Atelier: SD 1.5's published shape (every tensor of
// test/engine/diffusion/fixtures/sd15-unet.ldm.tsv, xorshift values scaled by 1/√fan-in) or the
// tiny test configuration (checks a script in seconds).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const UNET_CONFIGS = {
  sd15: { torch: { ch: 320, mult: [1, 2, 4, 4], res: 2, att: [true, true, true, false], heads: 8, context: 768, groups: 32, in: 4, out: 4 }, heads: 8, groups: 32, length: 77 },
  tiny: { torch: { ch: 32, mult: [1, 2], res: 1, att: [true, false], heads: 2, context: 32, groups: 8, in: 4, out: 4 }, heads: 2, groups: 8, length: 8 },
};

/** The UNet's weights for `configName`, read by the engine's loader. */
export async function randomUnetWeights(configName) {
  const { loadUnetWeights } = await import('../dist/engine/diffusion/unet.js');
  const { tinyStableDiffusionCheckpoint } = await import('../dist/engine/diffusion/random-checkpoint.js');
  const config = UNET_CONFIGS[configName];
  let tensors;
  if (configName === 'tiny') {
    tensors = tinyStableDiffusionCheckpoint(1, 600);
  } else {
    tensors = new Map();
    let state = 0x9e3779b9;
    const lines = readFileSync(path.join(here, '..', 'test', 'engine', 'diffusion', 'fixtures', 'sd15-unet.ldm.tsv'), 'utf8').trim().split('\n');
    for (const line of lines) {
      const [name, dims] = line.split('\t');
      const shape = dims ? dims.split(',').map(Number) : [];
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      const scale = shape.length > 1 ? 1 / Math.sqrt(n / shape[0]) : 0.05;
      for (let i = 0; i < n; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        data[i] = ((state >>> 0) / 2 ** 32 - 0.5) * 2 * scale + (shape.length === 1 && name.endsWith('weight') ? 1 : 0);
      }
      tensors.set(name, { name, shape, data });
    }
  }
  const weights = loadUnetWeights(tensors, { heads: config.heads, groups: config.groups });
  tensors.clear();
  return weights;
}
