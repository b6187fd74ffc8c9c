import { AtelierError } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import type { Graph, Tensor } from '../graph/graph.js';

/**
 * Random square crops, each warped by a random perspective: the augmentation CLIPstyler applies
 * to its output before its patch-wise CLIP loss (Kwon & Ye 2022, §3.2; their code composes
 * torchvision's RandomCrop(128) and RandomPerspective(distortion_scale=0.5, p=1, fill=0)). The same
 * geometry is reproduced here as facts of those transforms:
 *
 * - a crop's top-left corner is uniform over every position where it fits;
 * - each corner of the crop moves inward by a whole number of pixels, uniform in
 *   [0, ⌊d·s/2⌋] on each axis (d the distortion scale, s the crop size; the far corners count
 *   from s − 1);
 * - the output pixel (x, y) reads the crop at H(x + ½, y + ½) − ½, where H is the homography
 *   taking the moved corners to the original ones (corners in pixel-index coordinates): that is
 *   torchvision's sampling grid read by `grid_sample(align_corners=False)`;
 * - bilinear sampling with zeros outside the crop, then the result multiplied by the same bilinear
 *   sample of an all-ones image (how torchvision applies `fill=0`), which darkens the rim.
 *
 * The sampling is a fixed linear map of the image, so in a graph it is four `gather`s of the
 * flattened image (one per bilinear corner) weighted and summed; the positions and weights are
 * graph inputs, so one compiled graph serves fresh crops at every step.
 */

export type Point = [number, number];

export interface PerspectiveCrop {
  /** The crop's top-left pixel in the image. */
  left: number;
  top: number;
  /** Where the crop's corners go (top-left, top-right, bottom-right, bottom-left), in crop pixels. */
  corners: [Point, Point, Point, Point];
}

export interface CropGeometry {
  /** Crop side in pixels. */
  size: number;
  crops: PerspectiveCrop[];
}

/** `count` crops of `size`² from a width×height image, with perspective distortion `distortion`. */
export function samplePerspectiveCrops(rng: Rng, width: number, height: number, size: number, count: number, distortion = 0.5): CropGeometry {
  if (size > width || size > height) {
    throw new AtelierError('E_PARAM', 'The crops do not fit in the image', {
      expected: `a crop size up to ${Math.min(width, height)} (the image is ${width}×${height})`,
      received: `${size}`,
    });
  }
  const reach = Math.floor((distortion * Math.floor(size / 2)));
  const near = () => rng.int(reach + 1);
  const far = () => size - 1 - rng.int(reach + 1);
  const crops = Array.from({ length: count }, (): PerspectiveCrop => {
    const top = rng.int(height - size + 1);
    const left = rng.int(width - size + 1);
    return { left, top, corners: [[near(), near()], [far(), near()], [far(), far()], [near(), far()]] };
  });
  return { size, crops };
}

/**
 * The homography (a, b, c, d, e, f, g, h) with H(p) = ((a x + b y + c), (d x + e y + f)) / (g x + h y + 1)
 * that takes each point of `from` to the same point of `to` (four pairs, exact solve).
 */
export function homography(from: readonly Point[], to: readonly Point[]): number[] {
  const rows: number[][] = [];
  from.forEach(([x, y], i) => {
    const [u, v] = to[i]!;
    rows.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    rows.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  });
  // Gaussian elimination with partial pivoting on the 8×9 augmented matrix.
  for (let c = 0; c < 8; c++) {
    let pivot = c;
    for (let r = c + 1; r < 8; r++) if (Math.abs(rows[r]![c]!) > Math.abs(rows[pivot]![c]!)) pivot = r;
    [rows[c], rows[pivot]] = [rows[pivot]!, rows[c]!];
    const p = rows[c]![c]!;
    if (Math.abs(p) < 1e-12) throw new AtelierError('E_INTERNAL', 'Degenerate perspective corners', { received: JSON.stringify(from) });
    for (let r = 0; r < 8; r++) {
      if (r === c) continue;
      const k = rows[r]![c]! / p;
      if (k !== 0) for (let j = c; j < 9; j++) rows[r]![j] = rows[r]![j]! - k * rows[c]![j]!;
    }
  }
  return rows.map((r, i) => r[8]! / r[i]!);
}

export interface CropSampling {
  /** int64 positions into the flattened image [H·W], corner-major: [4 · crops · size²]. */
  index: BigInt64Array;
  /** Matching weights [4, crops · size²] (bilinear weight × the fill mask; 0 where outside). */
  weight: Float32Array;
}

/** The gather positions and weights that realise the crops on a `width`-wide image. */
export function cropSampling(geometry: CropGeometry, width: number): CropSampling {
  const { size, crops } = geometry;
  const plane = size * size;
  const total = crops.length * plane;
  const index = new BigInt64Array(4 * total);
  const weight = new Float32Array(4 * total);
  const square: Point[] = [[0, 0], [size - 1, 0], [size - 1, size - 1], [0, size - 1]];
  crops.forEach((crop, k) => {
    const [a, b, c, d, e, f, g, h] = homography(crop.corners, square);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const X = x + 0.5;
        const Y = y + 0.5;
        const den = g! * X + h! * Y + 1;
        const sx = (a! * X + b! * Y + c!) / den - 0.5;
        const sy = (d! * X + e! * Y + f!) / den - 0.5;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        const taps: [number, number, number][] = [
          [x0, y0, (1 - fx) * (1 - fy)],
          [x0 + 1, y0, fx * (1 - fy)],
          [x0, y0 + 1, (1 - fx) * fy],
          [x0 + 1, y0 + 1, fx * fy],
        ];
        const inside = (px: number, py: number) => px >= 0 && py >= 0 && px < size && py < size;
        // torchvision's fill=0: the warped image times the warped all-ones image.
        const mask = taps.reduce((s, [px, py, w]) => s + (inside(px, py) ? w : 0), 0);
        const at = k * plane + y * size + x;
        taps.forEach(([px, py, w], t) => {
          const ok = inside(px, py);
          index[t * total + at] = BigInt(ok ? (crop.top + py) * width + crop.left + px : 0);
          weight[t * total + at] = ok ? w * mask : 0;
        });
      }
    }
  });
  return { index, weight };
}

/**
 * The crops of `image` [1, C, H, W] (fixed sizes) as [count, C, size, size], read through the
 * graph inputs `index` (int64 [4·count·size²]) and `weight` ([4, count·size²]) of `cropSampling`.
 */
export function perspectiveCropsGraph(g: Graph, image: Tensor, count: number, size: number, index: Tensor, weight: Tensor): Tensor {
  const [n, channels, h, w] = image.shape;
  if (n !== 1 || typeof channels !== 'number' || typeof h !== 'number' || typeof w !== 'number') {
    throw new AtelierError('E_INTERNAL', 'perspectiveCropsGraph reads one image of fixed size', { received: `${image}` });
  }
  const flat = g.reshape(image, [1, channels, h * w]);
  const taps = g.reshape(g.gather(flat, 2, index), [1, channels, 4, count * size * size]);
  const mixed = g.reduceSum(g.mul(taps, weight), [2]); // [1, C, count·size²]
  return g.reshape(g.transpose(g.reshape(mixed, [channels, count, size, size]), [1, 0, 2, 3]), [count, channels, size, size]);
}
