import { z } from 'zod';
import { labToRgb, lalphaBetaToRgb, rgbToLab, rgbToLalphaBeta } from '../../core/color.js';
import type { Image } from '../../core/image.js';
import { pixelsOf } from '../../core/mask.js';
import { defineMethod } from '../../core/registry.js';
import { channelStats } from './statistics.js';

/**
 * Reinhard, Ashikhmin, Gooch & Shirley 2001, "Color Transfer between Images": shift and scale
 * each channel of a decorrelated colour space so its mean and standard deviation equal the
 * style's. Lab (CIE) by default; `space: lab-ruderman` uses the paper's own lαβ space.
 */
const params = z.object({
  space: z
    .enum(['lab', 'lalphabeta'])
    .default('lab')
    .describe('Colour space for the statistics: CIE Lab, or the lαβ space of the original paper'),
  scaleStd: z
    .boolean()
    .default(true)
    .describe("Match the style's spread (standard deviation) as well as its mean"),
});

/** Flat channels would divide by zero; below this spread a channel is only shifted. */
const MIN_STD = 1e-6;

export const reinhard = defineMethod({
  id: 'color.reinhard',
  family: 'color',
  title: 'Reinhard colour transfer',
  summary: "Match the content's colour mean and spread to the style's, per channel in Lab",
  reference: 'Reinhard et al., Color Transfer between Images, IEEE CG&A 2001',
  inputs: { style: 'required' },
  params,
  regions: 'native',
  async run(ctx, { content, style, regions }, p) {
    const to = p.space === 'lab' ? rgbToLab : rgbToLalphaBeta;
    const from = p.space === 'lab' ? labToRgb : lalphaBetaToRgb;
    const c = to(content);
    const s = to(style!);
    ctx.progress.step(1, 3);
    if (!regions) {
      matchStats(c, s, undefined, undefined, p.scaleStd);
    } else {
      // Each content region takes the statistics of its style region; unmatched ones the whole style's.
      for (let label = -1; label < regions.count; label++) {
        const cp = pixelsOf(regions.content, label);
        if (cp.length === 0) continue;
        const sp = label < 0 ? undefined : pixelsOf(regions.style, label);
        matchStats(c, s, cp, sp && sp.length > 0 ? sp : undefined, p.scaleStd);
      }
    }
    ctx.progress.step(2, 3);
    return from(c);
  },
});

/** In place: content channel values (over `cp` or all) get the style's (over `sp` or all) stats. */
function matchStats(content: Image, style: Image, cp: Int32Array | undefined, sp: Int32Array | undefined, scaleStd: boolean): void {
  const cs = channelStats(content, cp);
  const ss = channelStats(style, sp);
  for (let ch = 0; ch < content.channels; ch++) {
    const plane = content.plane(ch);
    const gain = scaleStd && cs.std[ch]! > MIN_STD ? ss.std[ch]! / cs.std[ch]! : 1;
    const offset = ss.mean[ch]! - cs.mean[ch]! * gain;
    if (cp) for (let k = 0; k < cp.length; k++) plane[cp[k]!] = plane[cp[k]!]! * gain + offset;
    else for (let i = 0; i < plane.length; i++) plane[i] = plane[i]! * gain + offset;
  }
}
