import { z } from 'zod';
import { labToRgb, rgbToLab } from '../../core/color.js';
import { throwIfAborted } from '../../core/errors.js';
import { defineMethod } from '../../core/registry.js';
import { QuantileFunction, histogramMatch } from '../../imaging/histogram-match.js';
import { colorSamples, paintSamples, pixelSamples } from './palette.js';
import { regionPairs } from './regions.js';
import { smoothChromaMap } from './color-map-smoothing.js';
import { smoothingParams, smoothResult } from './smoothing.js';

/**
 * Exact histogram matching (histogram specification, Gonzalez & Woods): each channel's values are
 * replaced by the style's at the same rank, so every matched channel ends with the style's exact
 * distribution. Per channel of CIE Lab by default — lightness and the two opponent axes are far
 * less correlated than R, G and B, so matching them one by one invents fewer false colours — or
 * per RGB channel (what scikit-image's match_histograms does), or on lightness only (a tone
 * transfer that keeps the content's colours).
 *
 * In Lab, the chroma map is then made a smooth function of the input colour (color-map-smoothing.ts,
 * `colorSmoothing` Lab units): ranks alone send the few colours just outside a dense mass (a sky's
 * edges after JPEG chroma subsampling) to the style's most saturated tails, the cyan specks along
 * cables and in water that issue 20 showed. The colour change is then smoothed edge-aware at 1 % of
 * the long side (`smooth`, as color.mkl at 2): exact matching spreads a flat sky's narrow lightness
 * range over a wide part of the style's, which turned the sky's JPEG blocks into visible 8×8
 * squares and dark specks along edges (statue_of_liberty × udnie, looked at 3× up; gone at 1).
 * With `smooth: 0` lightness is exactly the style's; a and b end close to it, and exactly with
 * `colorSmoothing: 0` too.
 */
const params = z.object({
  channels: z
    .enum(['lab', 'rgb', 'lightness'])
    .default('lab')
    .describe('What to match: each Lab channel, each RGB channel, or Lab lightness only (keeps the content colours)'),
  colorSmoothing: z
    .number()
    .min(0)
    .max(20)
    .default(3)
    .describe('Lab mode: make the chroma map a smooth function of the colour over about this many Lab units (0: exact per-channel distributions, which can leave saturated specks along edges in skies and water)'),
  ...smoothingParams(1),
});

export const histogram = defineMethod({
  id: 'color.histogram',
  family: 'color',
  title: 'Exact histogram matching',
  summary: "Give each channel exactly the style's distribution of values (rank-based, no binning)",
  reference: 'Gonzalez & Woods, Digital Image Processing, histogram specification',
  inputs: { style: 'required' },
  params,
  // A global colour map: in a video its statistics are smoothed over time (no sudden grade changes).
  video: { temporal: 'flow', carry: 'grade' },
  advanced: ['colorSmoothing', 'smooth', 'smoothEps'],
  presets: { 'Colour (Lab)': { channels: 'lab' }, 'Per RGB channel': { channels: 'rgb' }, 'Tone only': { channels: 'lightness' } },
  regions: 'native',
  async run(ctx, { content, style, regions }, p) {
    const rgb = p.channels === 'rgb';
    const matched = p.channels === 'lightness' ? [0] : [0, 1, 2];
    const out = content.emptyLike();
    const pairs = regionPairs(regions);
    const steps = pairs.length * matched.length;
    let step = 0;
    // The matching is about 2/3 of the work after the samples are made; the chroma smoothing,
    // painting and result smoothing the rest (1024², Lab: 3 × 200 ms, then 340 ms).
    const matching = ctx.progress.sub(0, 0.65);
    for (const pair of pairs) {
      // Per RGB channel the values are already on a 16-bit grid (counting sort, no Lab to convert):
      // distinct colours would not pay for their bookkeeping.
      const cs = rgb ? pixelSamples(content, pair.content) : colorSamples(content, pair.content);
      const ss = rgb ? pixelSamples(style!, pair.style) : colorSamples(style!, pair.style);
      const c = rgb ? cs.colors : rgbToLab(cs.colors);
      const s = rgb ? ss.colors : rgbToLab(ss.colors);
      const input = p.channels === 'lab' && p.colorSmoothing > 0 ? c.clone() : undefined;
      // The first samples are made: the measured work starts here (core/time-left.ts).
      if (step === 0) matching.step(0, steps);
      for (const ch of matched) {
        throwIfAborted(ctx.signal);
        histogramMatch(c.plane(ch), new QuantileFunction(s.plane(ch), ss.weights), cs.weights);
        matching.step(++step, steps);
      }
      if (input) smoothChromaMap(input, cs.weights, c, p.colorSmoothing);
      paintSamples(out, pair.content, cs, rgb ? c : labToRgb(c));
    }
    return smoothResult(ctx, content, out, p);
  },
});
