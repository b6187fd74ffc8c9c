import { AtelierError } from './errors.js';
import { Image } from './image.js';
import { resizeImage } from './resample.js';

/**
 * Masks give region control. A greyscale mask weights where the effect applies. A pair of colour
 * label maps (content and style, same colour = same region, as in deep photo style transfer)
 * pairs regions: each content region takes its style from the matching style region.
 */

/** Label maps resolved to shared indices. Pixels of a region absent from the style get -1. */
export interface Regions {
  /** One label index per content pixel (−1: no matching style region, use global statistics). */
  content: Int32Array;
  /** One label index per style pixel (−1: a style region no content region asks for). */
  style: Int32Array;
  /** The colour of each label index, as 0–255 RGB. */
  colors: [number, number, number][];
  /** Number of label indices (colours matched in both maps). */
  count: number;
}

const ASPECT_TOLERANCE = 0.01;

/** Bring a mask to the size of its image: resized only when the aspect ratio matches. */
export function fitMask(mask: Image, target: { width: number; height: number }, kind: 'weights' | 'labels', name: string): Image {
  if (mask.width === target.width && mask.height === target.height) return mask;
  const ratioMask = mask.width / mask.height;
  const ratioTarget = target.width / target.height;
  // Rounding when either was scaled can shift the ratio by one pixel's worth.
  const slack = ASPECT_TOLERANCE + 1 / Math.min(mask.width, mask.height, target.width, target.height);
  if (Math.abs(ratioMask / ratioTarget - 1) > slack) {
    throw new AtelierError('E_MASK_MISMATCH', `The ${name} does not fit its image`, {
      expected: `${target.width}×${target.height} or the same aspect ratio (${ratioTarget.toFixed(3)})`,
      received: `${mask.width}×${mask.height} (aspect ratio ${ratioMask.toFixed(3)})`,
      hint: `make the ${name} from the same image, or crop it to match`,
      subject: name,
    });
  }
  return kind === 'weights' ? resizeImage(mask, target.width, target.height) : resizeNearest(mask, target.width, target.height);
}

/** Nearest-neighbour resize: label maps must not gain in-between colours. */
export function resizeNearest(img: Image, width: number, height: number): Image {
  const out = new Image(width, height, img.channels);
  const n = width * height;
  const sn = img.pixels;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(img.height - 1, Math.floor(((y + 0.5) * img.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(img.width - 1, Math.floor(((x + 0.5) * img.width) / width));
      for (let c = 0; c < img.channels; c++) out.data[c * n + y * width + x] = img.data[c * sn + sy * img.width + sx]!;
    }
  }
  return out;
}

/** One grey weight plane in [0, 1] from a mask image (luma of colour masks). */
export function maskWeights(mask: Image): Float32Array {
  if (mask.channels === 1) return mask.data;
  const [r, g, b] = [mask.plane(0), mask.plane(1), mask.plane(2)];
  const w = new Float32Array(mask.pixels);
  for (let i = 0; i < w.length; i++) w[i] = 0.299 * r[i]! + 0.587 * g[i]! + 0.114 * b[i]!;
  return w;
}

/** Colours covering less than this share of a map are treated as compression noise and merged. */
const MIN_REGION_SHARE = 0.002;

interface Palette {
  colors: [number, number, number][];
  labels: Int32Array;
}

function paletteOf(map: Image): Palette {
  const n = map.pixels;
  const planes = map.channels >= 3 ? [map.plane(0), map.plane(1), map.plane(2)] : [map.plane(0), map.plane(0), map.plane(0)];
  const keys = new Int32Array(n);
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const k =
      (Math.round(planes[0]![i]! * 255) << 16) | (Math.round(planes[1]![i]! * 255) << 8) | Math.round(planes[2]![i]! * 255);
    keys[i] = k;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const major = [...counts.entries()].filter(([, c]) => c >= n * MIN_REGION_SHARE).sort((a, b) => b[1] - a[1]);
  const kept = (major.length > 0 ? major : [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 1)).map(([k]) => k);
  const colors = kept.map((k) => [(k >> 16) & 255, (k >> 8) & 255, k & 255] as [number, number, number]);
  const index = new Map<number, number>();
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    let l = index.get(k);
    if (l === undefined) {
      const r = (k >> 16) & 255;
      const g = (k >> 8) & 255;
      const b = k & 255;
      let best = 0;
      let bestD = Infinity;
      colors.forEach(([cr, cg, cb], j) => {
        const d = (cr - r) ** 2 + (cg - g) ** 2 + (cb - b) ** 2;
        if (d < bestD) {
          bestD = d;
          best = j;
        }
      });
      l = best;
      index.set(k, l);
    }
    labels[i] = l;
  }
  return { colors, labels };
}

/** Colours closer than this (RGB distance, 0–255 scale) count as the same label across maps. */
const MATCH_DISTANCE = 24;

/** Pair the regions of a content label map with those of a style label map by colour. */
export function matchRegions(contentMap: Image, styleMap: Image): Regions {
  const cp = paletteOf(contentMap);
  const sp = paletteOf(styleMap);
  const colors: [number, number, number][] = [];
  const contentToShared = new Int32Array(cp.colors.length).fill(-1);
  const styleToShared = new Int32Array(sp.colors.length).fill(-1);
  cp.colors.forEach((c, i) => {
    let best = -1;
    let bestD = MATCH_DISTANCE ** 2;
    sp.colors.forEach((s, j) => {
      const d = (c[0] - s[0]) ** 2 + (c[1] - s[1]) ** 2 + (c[2] - s[2]) ** 2;
      if (d <= bestD) {
        bestD = d;
        best = j;
      }
    });
    if (best >= 0) {
      if (styleToShared[best] === -1) {
        styleToShared[best] = colors.length;
        colors.push(c);
      }
      contentToShared[i] = styleToShared[best]!;
    }
  });
  if (colors.length === 0) {
    throw new AtelierError('E_MASK_MISMATCH', 'The content and style label maps share no region colour', {
      expected: 'label maps that use the same colour for matching regions',
      received: `content colours ${cp.colors.map(hex).join(' ')}; style colours ${sp.colors.map(hex).join(' ')}`,
      hint: 'paint matching regions with the same colour in both masks',
    });
  }
  return {
    content: cp.labels.map((l) => contentToShared[l]!),
    style: sp.labels.map((l) => styleToShared[l]!),
    colors,
    count: colors.length,
  };
}

function hex([r, g, b]: [number, number, number]): string {
  return '#' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
}

/** Indices of the pixels carrying `label`. */
export function pixelsOf(labels: Int32Array, label: number): Int32Array {
  let count = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === label) count++;
  const out = new Int32Array(count);
  for (let i = 0, j = 0; i < labels.length; i++) if (labels[i] === label) out[j++] = i;
  return out;
}
