/**
 * Seeded procedural noise for the textures the filters generate (paper, pigment, brush bristles,
 * pencil grain). Values come from hashing integer lattice coordinates with the seed, so a texture
 * is a pure function of absolute pixel position: strips of a large image join without seams, and
 * the same seed gives the same texture.
 */

function hash(ix: number, iy: number, seed: number): number {
  let h = Math.imul(ix, 0x27d4eb2d) ^ Math.imul(iy, 0x165667b1) ^ Math.imul(seed, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Smooth value noise in [0, 1) with lattice spacing 1. */
export function valueNoise(x: number, y: number, seed: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const sx = fx * fx * (3 - 2 * fx);
  const sy = fy * fy * (3 - 2 * fy);
  const a = hash(x0, y0, seed);
  const b = hash(x0 + 1, y0, seed);
  const c = hash(x0, y0 + 1, seed);
  const d = hash(x0 + 1, y0 + 1, seed);
  const top = a + (b - a) * sx;
  const bottom = c + (d - c) * sx;
  return top + (bottom - top) * sy;
}

/** Fractal sum of `octaves` value-noise layers, the coarsest with cells of `scale`; in [0, 1). */
export function fractalNoise(x: number, y: number, scale: number, octaves: number, seed: number): number {
  let sum = 0;
  let amp = 1;
  let norm = 0;
  let f = 1 / scale;
  for (let o = 0; o < octaves; o++) {
    sum += amp * valueNoise(x * f, y * f, seed + o * 101);
    norm += amp;
    amp *= 0.5;
    f *= 2;
  }
  return sum / norm;
}

/**
 * A w × h plane of fractal noise for a tile whose first row is image row `top`: the same values as
 * `fractalNoise` pixel by pixel, but each row hashes its two lattice rows once per octave instead of
 * four corners per pixel (3× faster at bristle scale).
 */
export function noisePlane(w: number, h: number, top: number, scale: number, octaves: number, seed: number): Float32Array {
  const out = new Float32Array(w * h);
  const acc = new Float64Array(w);
  const upper: Float64Array[] = [];
  const lower: Float64Array[] = [];
  const freqs: number[] = [];
  const amps: number[] = [];
  let f = 1 / scale;
  let amp = 1;
  let norm = 0;
  for (let o = 0; o < octaves; o++) {
    const cells = Math.floor((w - 1) * f) + 2;
    upper.push(new Float64Array(cells));
    lower.push(new Float64Array(cells));
    freqs.push(f);
    amps.push(amp);
    norm += amp;
    amp *= 0.5;
    f *= 2;
  }
  for (let y = 0; y < h; y++) {
    acc.fill(0);
    for (let o = 0; o < octaves; o++) {
      const fo = freqs[o]!;
      const so = seed + o * 101;
      const yy = (y + top) * fo;
      const y0 = Math.floor(yy);
      const fy = yy - y0;
      const sy = fy * fy * (3 - 2 * fy);
      const up = upper[o]!;
      const lo = lower[o]!;
      for (let k = 0; k < up.length; k++) {
        up[k] = hash(k, y0, so);
        lo[k] = hash(k, y0 + 1, so);
      }
      const a0 = amps[o]!;
      for (let x = 0; x < w; x++) {
        const xx = x * fo;
        const x0 = Math.floor(xx);
        const fx = xx - x0;
        const sx = fx * fx * (3 - 2 * fx);
        const a = up[x0]!;
        const c = lo[x0]!;
        const t = a + (up[x0 + 1]! - a) * sx;
        const b = c + (lo[x0 + 1]! - c) * sx;
        acc[x] = acc[x]! + a0 * (t + (b - t) * sy);
      }
    }
    for (let x = 0; x < w; x++) out[y * w + x] = acc[x]! / norm;
  }
  return out;
}

/** Streaky noise: cells stretched `length` px along `angle` and `width` px across it. */
export function streakNoise(x: number, y: number, angle: number, length: number, width: number, seed: number): number {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const u = (x * c + y * s) / length;
  const v = (-x * s + y * c) / width;
  return 0.65 * valueNoise(u, v, seed) + 0.35 * valueNoise(u * 2.1, v * 2.3, seed + 7);
}
