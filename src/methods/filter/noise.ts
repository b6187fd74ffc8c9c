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

/** A w × h plane of fractal noise for a tile whose first row is image row `top`. */
export function noisePlane(w: number, h: number, top: number, scale: number, octaves: number, seed: number): Float32Array {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = fractalNoise(x, y + top, scale, octaves, seed);
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
