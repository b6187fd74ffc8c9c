import { labToRgb, rgbToLab } from '../../core/color.js';
import type { Image } from '../../core/image.js';

/**
 * The colour spaces the distribution-matching methods work in. RGB is the space of Pitié's papers;
 * CIE Lab separates lightness from chroma, so per-axis matching shifts hues less.
 */
export const WORKING_SPACES = ['rgb', 'lab'] as const;
export type WorkingSpace = (typeof WORKING_SPACES)[number];

/** A fresh image in the working space (never the input itself: callers mutate it). */
export function toWorkingSpace(img: Image, space: WorkingSpace): Image {
  return space === 'lab' ? rgbToLab(img) : img.clone();
}

export function fromWorkingSpace(img: Image, space: WorkingSpace): Image {
  return space === 'lab' ? labToRgb(img) : img;
}

/** The size of one 8-bit step in the working space's units (Lab L spans 0–100). */
export function quantumOf(space: WorkingSpace): number {
  return space === 'lab' ? 100 / 255 : 1 / 255;
}
