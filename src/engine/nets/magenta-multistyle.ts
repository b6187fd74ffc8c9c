import { AtelierError } from '../../core/errors.js';
import { modelStatus, type StoreOptions } from '../store.js';

/**
 * Magenta's 26-style network (Dumoulin, Shlens & Kudlur, "A Learned Representation for Artistic
 * Style", ICLR 2017) as TensorFlow's Android demo ships it: a frozen, 8-bit quantised GraphDef whose
 * conditional instance norms take their scale and shift as `style_num · gamma` and
 * `style_num · beta` (gamma, beta: 26 × C tables), so a one-hot `style_num` picks a style and a
 * convex combination mixes them, as the paper shows. Style i is pictured by `thumbnails/style<i>.jpg`:
 * styles are numbered from 0, as the thumbnails are.
 */

export const MULTISTYLE = {
  model: 'magenta-multistyle',
  file: 'stylize_quantized.pb',
  input: 'input',
  styleInput: 'style_num',
  output: 'transformer/expand/conv3/conv/Sigmoid',
  styles: 26,
  licence: 'Apache-2.0 (TensorFlow Android demo asset)',
} as const;

export interface StyleWeight {
  style: number;
  weight: number;
}

/**
 * Parse a mix such as `3:0.5,17:0.5` (style:weight pairs, styles 0–25). Weights must be ≥ 0 and are
 * normalised to sum to 1 (a convex combination, as the network was trained to interpolate).
 */
export function parseStyleMix(text: string, styles: number = MULTISTYLE.styles): StyleWeight[] {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = (received: string) =>
    new AtelierError('E_PARAM', 'A style mix is a list of style:weight pairs', {
      subject: 'mix',
      expected: `e.g. 3:0.5,17:0.5 with styles 0–${styles - 1} and weights ≥ 0 (not all 0)`,
      received,
    });
  if (parts.length === 0) throw bad(JSON.stringify(text));
  const mix = parts.map((p) => {
    const m = /^(\d+)\s*:\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)$/i.exec(p);
    if (!m) throw bad(JSON.stringify(p));
    const style = Number(m[1]);
    const weight = Number(m[2]);
    if (style >= styles || !Number.isFinite(weight)) throw bad(JSON.stringify(p));
    return { style, weight };
  });
  const total = mix.reduce((s, w) => s + w.weight, 0);
  if (!(total > 0)) throw bad(JSON.stringify(text));
  return mix.map((w) => ({ style: w.style, weight: w.weight / total }));
}

/** The `style_num` input for a mix: weights at their styles' positions, summing to 1. */
export function styleVector(mix: StyleWeight[], styles: number = MULTISTYLE.styles): Float32Array {
  const v = new Float32Array(styles);
  for (const { style, weight } of mix) v[style]! += weight;
  return v;
}

export interface StyleThumbnail {
  /** The style number (`--style N`), from 0. */
  style: number;
  /** The thumbnail's path when the model is installed (else where it would be). */
  path: string;
  installed: boolean;
}

/**
 * The 26 styles with their thumbnails, for galleries (the studio, `atelier methods`): a small
 * function the UI can call; the files come with the `magenta-multistyle` model.
 */
export function multistyleThumbnails(options: StoreOptions = {}): StyleThumbnail[] {
  const files = new Map(modelStatus(MULTISTYLE.model, options).files.map((f) => [f.path, f]));
  return Array.from({ length: MULTISTYLE.styles }, (_, style) => {
    const f = files.get(`thumbnails/style${style}.jpg`)!;
    return { style, path: f.absolute, installed: f.installed };
  });
}
