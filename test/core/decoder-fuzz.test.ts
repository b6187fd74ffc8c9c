import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isAtelierError } from '../../src/core/errors.js';
import { checkImage, readImage } from '../../src/core/io.js';
import { Rng } from '../../src/core/rng.js';
import { ACCEPTED_FORMATS } from '../../src/server/uploads.js';

/**
 * Decoder fuzzing: mutated PNG, JPEG, WebP, TIFF and GIF files (bit flips, truncations, huge
 * declared sizes, random header bytes) through readImage (CLI, library) and checkImage (the upload
 * path, with the server's format list). Every input either decodes or fails with an AtelierError; none crashes the process or
 * takes more than 5 s. 300 inputs by default, 3000 with ATELIER_SLOW=1. Seeded: a failure is
 * reproducible from the printed case number.
 */

const SLOW = process.env.ATELIER_SLOW === '1';
const CASES = SLOW ? 3000 : 300;
const PER_INPUT_MS = 5000;
const MAX_PIXELS = 4_000_000;

type Format = 'png' | 'jpeg' | 'webp' | 'tiff' | 'gif';
const FORMATS: Format[] = ['png', 'jpeg', 'webp', 'tiff', 'gif'];

async function seed(format: Format): Promise<Buffer> {
  // A small picture with structure (gradient + noise), so every codec has real data to damage.
  const w = 48;
  const h = 32;
  const raw = Buffer.alloc(w * h * 3);
  const rng = new Rng(7);
  for (let i = 0; i < w * h; i++) {
    raw[3 * i] = (i % w) * 5;
    raw[3 * i + 1] = Math.floor(i / w) * 7;
    raw[3 * i + 2] = rng.int(256);
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).toFormat(format).toBuffer();
}

/** Write a big-endian (or little-endian) 32/16-bit size where the format declares it. */
function hugeSize(format: Format, b: Buffer, rng: Rng): void {
  const big = [0xffff, 0x7fff, 0x10000 + rng.int(0xffff)][rng.int(3)]!;
  if (format === 'png' && b.length > 24) {
    b.writeUInt32BE(big * (1 + rng.int(4)), 16);
    b.writeUInt32BE(big, 20);
  } else if (format === 'gif' && b.length > 10) {
    b.writeUInt16LE(0xffff, 6);
    b.writeUInt16LE(0xffff, 8);
  } else if (format === 'jpeg') {
    for (let i = 2; i + 8 < b.length; i++) {
      if (b[i] === 0xff && (b[i + 1] === 0xc0 || b[i + 1] === 0xc2)) {
        b.writeUInt16BE(0xffff, i + 5);
        b.writeUInt16BE(0xffff, i + 7);
        break;
      }
    }
  } else if (format === 'webp' && b.length > 30) {
    // VP8/VP8L/VP8X carry 14- or 24-bit sizes around byte 24-29: saturate them.
    for (let i = 24; i < 30; i++) b[i] = 0xff;
  } else if (format === 'tiff' && b.length > 16) {
    // Scramble the first IFD's entries (width, length, strip offsets live there).
    const ifd = b.readUInt32LE(4);
    for (let i = ifd + 2; i < Math.min(b.length, ifd + 2 + 12 * 6); i += 12) if (rng.int(2) === 0 && i + 12 <= b.length) b.writeUInt32LE(0xffffffff, i + 8);
  }
}

function mutate(format: Format, original: Buffer, rng: Rng): { bytes: Buffer; kind: string } {
  const b = Buffer.from(original);
  switch (rng.int(4)) {
    case 0: {
      const flips = 1 + rng.int(16);
      for (let k = 0; k < flips; k++) {
        const i = rng.int(b.length);
        b[i] = b[i]! ^ (1 << rng.int(8));
      }
      return { bytes: b, kind: `${flips} bit flips` };
    }
    case 1:
      return { bytes: b.subarray(0, rng.int(b.length)), kind: 'truncated' };
    case 2:
      hugeSize(format, b, rng);
      return { bytes: b, kind: 'huge declared size' };
    default: {
      const n = 1 + rng.int(8);
      for (let k = 0; k < n; k++) b[rng.int(Math.min(b.length, 64))] = rng.int(256);
      return { bytes: b, kind: 'random header bytes' };
    }
  }
}

function withinTime<T>(p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${PER_INPUT_MS} ms`)), PER_INPUT_MS))]);
}

describe('decoder fuzz', () => {
  it(`${CASES} mutated images: each decodes or fails with an AtelierError, within 5 s, through readImage and the upload check`, async () => {
    const seeds = Object.fromEntries(await Promise.all(FORMATS.map(async (f) => [f, await seed(f)] as const))) as Record<Format, Buffer>;
    const rng = new Rng(20);
    const tally = { decoded: 0, refused: 0, uploadAccepted: 0, uploadRefused: 0 };
    const codes = new Map<string, number>();
    let slowest = 0;
    for (let c = 0; c < CASES; c++) {
      const format = FORMATS[c % FORMATS.length]!;
      const { bytes, kind } = mutate(format, seeds[format], rng);
      const label = `case ${c} (${format}, ${kind}, ${bytes.length} bytes)`;
      const t0 = performance.now();
      let decoded = false;
      try {
        const img = await withinTime(readImage(bytes, { maxPixels: MAX_PIXELS, name: label }), label);
        expect(img.width * img.height).toBeLessThanOrEqual(MAX_PIXELS);
        tally.decoded++;
        decoded = true;
      } catch (e) {
        if (!isAtelierError(e)) throw new Error(`${label}: readImage threw a non-AtelierError: ${String(e)}`);
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        tally.refused++;
      }
      try {
        await withinTime(checkImage(bytes, { name: label, maxPixels: MAX_PIXELS, formats: ACCEPTED_FORMATS }), label);
        tally.uploadAccepted++;
      } catch (e) {
        if (!isAtelierError(e)) throw new Error(`${label}: the upload check threw a non-AtelierError: ${String(e)}`);
        // Both run the same header checks in core/io.ts: a file the CLI reads, the server accepts.
        if (decoded) throw new Error(`${label}: readImage decoded it but the upload check refused it (${e.code}: ${e.message})`);
        tally.uploadRefused++;
      }
      slowest = Math.max(slowest, performance.now() - t0);
    }
    console.info(
      `decoder fuzz: ${CASES} inputs; readImage decoded ${tally.decoded}, refused ${tally.refused} (${[...codes].map(([k, v]) => `${k} ${v}`).join(', ')}); upload check accepted ${tally.uploadAccepted}, refused ${tally.uploadRefused}; slowest input ${slowest.toFixed(0)} ms`,
    );
    expect(tally.decoded + tally.refused).toBe(CASES);
    expect(tally.refused).toBeGreaterThan(CASES / 10); // the mutations do break files
  }, SLOW ? 1_800_000 : 300_000);
});
