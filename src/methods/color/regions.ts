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
