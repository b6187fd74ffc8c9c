import { z } from 'zod';
import { labToRgb, rgbToLab } from '../../core/color.js';
import { throwIfAborted } from '../../core/errors.js';
import { defineMethod } from '../../core/registry.js';
import { histogramMatch, sortedCopy } from './histogram-match.js';
import { gather, regionPairs, scatter } from './regions.js';
import { smoothingParams, smoothResult } from './smoothing.js';

/**
 * Exact histogram matching (histogram specification, Gonzalez & Woods): each channel's values are
 * replaced by the style's at the same rank, so every matched channel ends with the style's exact
 * distribution. Per channel of CIE Lab by default — lightness and the two opponent axes are far
 * less correlated than R, G and B, so matching them one by one invents fewer false colours — or
 * per RGB channel (what scikit-image's match_histograms does), or on lightness only (a tone
 * transfer that keeps the content's colours).
 */
const params = z.object({
  channels: z
    .enum(['lab', 'rgb', 'lightness'])
    .default('lab')
    .describe('What to match: each Lab channel, each RGB channel, or Lab lightness only (keeps the content colours)'),
  ...smoothingParams(0),
});

export const histogram = defineMethod({
  id: 'color.histogram',
  family: 'color',
  title: 'Exact histogram matching',
  summary: "Give each channel exactly the style's distribution of values (rank-based, no binning)",
  reference: 'Gonzalez & Woods, Digital Image Processing, histogram specification',
  inputs: { style: 'required' },
  params,
  regions: 'native',
  async run(ctx, { content, style, regions }, p) {
    const rgb = p.channels === 'rgb';
    const c = rgb ? content.clone() : rgbToLab(content);
    const s = rgb ? style! : rgbToLab(style!);
    const matched = p.channels === 'lightness' ? [0] : [0, 1, 2];
    const pairs = regionPairs(regions);
    const steps = pairs.length * matched.length + 1;
    let step = 0;
    for (const pair of pairs) {
      for (const ch of matched) {
        throwIfAborted(ctx.signal);
        const plane = c.plane(ch);
        const values = gather(plane, pair.content);
        histogramMatch(values, sortedCopy(gather(s.plane(ch), pair.style)));
        scatter(plane, pair.content, values);
        ctx.progress.step(++step, steps);
      }
    }
    return smoothResult(ctx, content, rgb ? c : labToRgb(c), p);
  },
});
