import { AtelierError } from '../../core/errors.js';
import type { Image } from '../../core/image.js';
import type { Flow } from '../flow.js';

/**
 * The previous result moved onto the current frame for carrying over. A carried result is
 * resampled again at every frame, and bilinear sampling (what the warping-error metric uses, see
 * flow.ts warpByFlow) is a small blur each time: after a dozen frames of a near-still shot the
 * carried texture was visibly soft and its style distance had grown by 10–15 % (patch.synthesis on
 * sam2_bedroom_kids_jumping). Catmull–Rom cubic sampling keeps the texture: it reproduces the pixels
 * exactly at whole-pixel shifts and loses far less contrast in between. Values are clamped to the
 * range of the four nearest pixels so the cubic's overshoot cannot ring at edges.
 */
export function warpForCarry(img: Image, flow: Flow): Image {
  if (!img.sameSize(flow)) {
    throw new AtelierError('E_PARAM', 'The flow does not fit the image', { received: `flow ${flow.width}×${flow.height}, image ${img.width}×${img.height}` });
  }
  const { width: w, height: h } = img;
  const out = img.emptyLike();
  const wx = new Float64Array(4);
  const wy = new Float64Array(4);
  for (let c = 0; c < img.channels; c++) {
    const src = img.plane(c);
    const dst = out.plane(c);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const sx = Math.min(w - 1, Math.max(0, x + flow.u[i]!));
        const sy = Math.min(h - 1, Math.max(0, y + flow.v[i]!));
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        catmullRom(sx - x0, wx);
        catmullRom(sy - y0, wy);
        let v = 0;
        for (let j = 0; j < 4; j++) {
          const row = Math.min(h - 1, Math.max(0, y0 - 1 + j)) * w;
          let r = 0;
          for (let k = 0; k < 4; k++) r += wx[k]! * src[row + Math.min(w - 1, Math.max(0, x0 - 1 + k))]!;
          v += wy[j]! * r;
        }
        const x1 = Math.min(w - 1, x0 + 1);
        const y1 = Math.min(h - 1, y0 + 1);
        const a = src[y0 * w + x0]!;
        const b = src[y0 * w + x1]!;
        const d = src[y1 * w + x0]!;
        const e = src[y1 * w + x1]!;
        const lo = Math.min(a, b, d, e);
        const hi = Math.max(a, b, d, e);
        dst[i] = v < lo ? lo : v > hi ? hi : v;
      }
    }
  }
  return out;
}

/** Catmull–Rom weights of the 4 taps around a sample at fraction t ∈ [0, 1) past the second. */
function catmullRom(t: number, out: Float64Array): void {
  const t2 = t * t;
  const t3 = t2 * t;
  out[0] = 0.5 * (-t3 + 2 * t2 - t);
  out[1] = 0.5 * (3 * t3 - 5 * t2 + 2);
  out[2] = 0.5 * (-3 * t3 + 4 * t2 + t);
  out[3] = 0.5 * (t3 - t2);
}
