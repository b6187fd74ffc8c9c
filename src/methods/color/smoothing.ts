import { z } from 'zod';
import { throwIfAborted } from '../../core/errors.js';
import { Image } from '../../core/image.js';
import type { RunContext } from '../../core/registry.js';
import { guidedFilter } from '../../imaging/guided-filter.js';

/**
 * The edge-aware clean-up shared by the colour methods (the role of FastPhotoStyle's smoothing
 * step, Li et al. 2018): a colour mapping can amplify noise and JPEG blocks, band smooth skies, and
 * leave seams where region masks do not follow edges. We filter the *change* the mapping made
 * (result − content) with a guided filter whose guide is the content, and add it back: the change
 * becomes locally an affine function of the content's colours, so it bends only at the content's
 * edges, while the content's own fine detail is kept untouched.
 */
export function smoothingParams(defaultRadius: number) {
  return {
    smooth: z
      .number()
      .min(0)
      .max(10)
      .default(defaultRadius)
      .describe("Edge-aware smoothing of the colour change, guided by the content: window radius in % of the image's long side (0: off)"),
    smoothEps: z
      .number()
      .min(1e-6)
      .max(1)
      .default(1e-3)
      .describe('Smoothing edge threshold: colour variance (0–1 RGB units²) below which a window counts as flat'),
  };
}

export interface SmoothingOptions {
  smooth: number;
  smoothEps: number;
}

export function smoothResult(ctx: Pick<RunContext, 'signal'>, content: Image, result: Image, p: SmoothingOptions): Image {
  if (p.smooth === 0 || !content.sameSize(result)) return result;
  throwIfAborted(ctx.signal);
  // Relative to the image so that a setting means the same at preview and at full size.
  const radius = Math.max(1, Math.round((p.smooth / 100) * Math.max(content.width, content.height)));
  const change = result.emptyLike();
  for (let i = 0; i < change.data.length; i++) change.data[i] = result.data[i]! - content.data[i]!;
  // The fast guided filter at He & Sun's ratio s = r/4: the coefficients are box means over the
  // radius anyway, so computing them at 1/s resolution costs little accuracy and s² less work.
  const subsample = Math.max(1, Math.floor(radius / 4));
  const smoothed = guidedFilter(content, change, { radius, eps: p.smoothEps, subsample });
  const out = new Image(result.width, result.height, result.channels, smoothed.data, result.alpha);
  for (let i = 0; i < out.data.length; i++) out.data[i] = out.data[i]! + content.data[i]!;
  return out;
}
