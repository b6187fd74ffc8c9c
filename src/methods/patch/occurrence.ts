import type { Nnf } from './nnf.js';

/**
 * Patch-occurrence penalty (after Kaspar et al., "Self Tuning Texture Optimization", Eurographics
 * 2015, and the uniform patch usage of Jamriška et al., StyLit 2015): nearest-neighbour matching
 * alone lets every flat or smooth area of the estimate take the same few smooth style patches, so
 * a flat sky became one blank band of the zigzag or one empty patch of the etching's paper, and the
 * output's mix of patches stopped resembling the style's. Each style position is charged for how
 * much more than its fair share its footprint is already covered by the field's matches, so the
 * next search prefers the style's unused material where it fits almost as well.
 *
 * Returns, per style top-left position (y · width + x), λ · median match distance · coverage /
 * expected coverage, where coverage is the mean count of matched patches over the position's
 * size × size footprint and the expected coverage is the matches' total area spread evenly over the
 * style's positions. Positions a patch cannot start from get 0 (PatchMatch never visits them).
 */
export function occurrencePenalty(field: Nnf, styleWidth: number, styleHeight: number, size: number, lambda: number): Float32Array {
  const sw = styleWidth;
  const sh = styleHeight;
  const W = sw + 1;
  // Coverage of each style pixel: a 2-D difference array of the matched footprints, then prefix sums.
  const cover = new Float64Array(W * (sh + 1));
  for (const t of field.index) {
    const x = t % sw;
    const y = (t - x) / sw;
    cover[y * W + x] += 1;
    cover[y * W + x + size] -= 1;
    cover[(y + size) * W + x] -= 1;
    cover[(y + size) * W + x + size] += 1;
  }
  for (let y = 0; y <= sh; y++) for (let x = 1; x <= sw; x++) cover[y * W + x] += cover[y * W + x - 1];
  for (let y = 1; y <= sh; y++) for (let x = 0; x <= sw; x++) cover[y * W + x] += cover[(y - 1) * W + x];
  // Integral image of the coverage, for the mean over each footprint.
  const sums = new Float64Array(W * (sh + 1));
  for (let y = 0; y < sh; y++) {
    let row = 0;
    for (let x = 0; x < sw; x++) {
      row += cover[y * W + x];
      sums[(y + 1) * W + x + 1] = sums[y * W + x + 1] + row;
    }
  }
  const positions = (sw - size + 1) * (sh - size + 1);
  const expected = (field.index.length * size * size) / Math.max(1, positions);
  const sorted = Float32Array.from(field.distance).sort();
  const median = sorted.length > 0 ? sorted[sorted.length >> 1]! : 0;
  const scale = (lambda * median) / Math.max(1e-9, expected) / (size * size);
  const out = new Float32Array(sw * sh);
  for (let y = 0; y + size <= sh; y++) {
    for (let x = 0; x + size <= sw; x++) {
      out[y * sw + x] = scale * (sums[(y + size) * W + x + size] - sums[y * W + x + size] - sums[(y + size) * W + x] + sums[y * W + x]);
    }
  }
  return out;
}
