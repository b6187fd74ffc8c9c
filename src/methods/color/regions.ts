import type { Regions } from '../../core/mask.js';
import { pixelsOf } from '../../core/mask.js';

/**
 * Region pairing for colour methods that map region to region themselves (`regions: 'native'`):
 * each content region takes its statistics from the style region of the same label; content
 * pixels with no matching style region (label −1), or whose style region is empty, take the
 * whole style's.
 */
export interface RegionPair {
  /** Shared label index, −1 for content pixels without a matching style region, or `undefined` without regions. */
  label?: number;
  /** Content pixel indices (undefined: every pixel). */
  content?: Int32Array;
  /** Style pixel indices (undefined: every pixel). */
  style?: Int32Array;
}

export function regionPairs(regions: Regions | undefined): RegionPair[] {
  if (!regions) return [{}];
  const pairs: RegionPair[] = [];
  for (let label = -1; label < regions.count; label++) {
    const content = pixelsOf(regions.content, label);
    if (content.length === 0) continue;
    const style = label < 0 ? undefined : pixelsOf(regions.style, label);
    pairs.push({ label, content, ...(style && style.length > 0 && { style }) });
  }
  return pairs;
}

/** The values of `plane` at `indices` (a copy), or the plane itself when no indices are given. */
export function gather(plane: Float32Array, indices: Int32Array | undefined): Float32Array {
  if (!indices) return plane;
  const out = new Float32Array(indices.length);
  for (let k = 0; k < indices.length; k++) out[k] = plane[indices[k]!]!;
  return out;
}

/** Write `values` back to `plane` at `indices` (no-op when `values` is the plane itself). */
export function scatter(plane: Float32Array, indices: Int32Array | undefined, values: Float32Array): void {
  if (!indices) {
    if (values !== plane) plane.set(values);
    return;
  }
  for (let k = 0; k < indices.length; k++) plane[indices[k]!] = values[k]!;
}
