import { mkdirSync, readdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { AtelierError, type ErrorCode } from '../../src/core/errors.js';
import { encodeImage, formatForPath, imageInfo, readImage, writeImage } from '../../src/core/io.js';
import { gradientImage, meanAbsDiff, noiseImage, tempDir } from '../helpers/fixtures.js';
import { pngWithHeader } from '../helpers/png-header.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<AtelierError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, `expected ${code}`).toBeInstanceOf(AtelierError);
  expect((e as AtelierError).code).toBe(code);
  return e as AtelierError;
}

async function jpegBytes(): Promise<Buffer> {
  return encodeImage(noiseImage(120, 90, 2), 'jpeg');
}

describe('readImage: formats and conversions', () => {
  it('reads PNG, JPEG, WebP, TIFF and AVIF back close to what was written', async () => {
    const img = gradientImage(64, 48);
    for (const [ext, tol] of [['png', 0.003], ['jpg', 0.02], ['webp', 0.03], ['tif', 0.003], ['avif', 0.04]] as const) {
      const f = tmp.file(`roundtrip.${ext}`);
      await writeImage(img, f, { force: true });
      const back = await readImage(f);
      expect(back.width).toBe(64);
      expect(back.height).toBe(48);
      expect(meanAbsDiff(back, img), ext).toBeLessThan(tol);
    }
  });

  it('keeps 16-bit precision in and out', async () => {
    const img = gradientImage(32, 8);
    const f = tmp.file('deep.png');
    await writeImage(img, f, { bitDepth: 16, force: true });
    expect((await imageInfo(f)).depth).toBe('ushort');
    const back = await readImage(f);
    expect(meanAbsDiff(back, img)).toBeLessThan(2e-5);
  });

  it('expands palette PNGs and keeps their alpha aside', async () => {
    const bytes = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 200, g: 30, b: 60, alpha: 0.5 } } })
      .png({ palette: true })
      .toBuffer();
    const img = await readImage(bytes);
    expect(img.channels).toBe(3);
    expect(img.plane(0)[0]).toBeCloseTo(200 / 255, 1);
    expect(img.alpha?.[0]).toBeCloseTo(0.5, 1);
  });

  it('converts greyscale and CMYK input to RGB instead of refusing', async () => {
    const grey = await sharp(Buffer.from([0, 64, 128, 255]), { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer();
    const g = await readImage(grey);
    expect(g.channels).toBe(3);
    expect(g.plane(2)[1]).toBeCloseTo(64 / 255, 3);
    const cmyk = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 200, g: 30, b: 60 } } })
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    expect((await imageInfo(cmyk)).space).toBe('cmyk');
    const c = await readImage(cmyk);
    expect(c.channels).toBe(3);
    expect(c.plane(0)[0]).toBeGreaterThan(0.6);
    expect(c.plane(1)[0]).toBeLessThan(0.3);
  });

  it('applies EXIF orientation', async () => {
    // A 4×2 image stored with orientation 6 (rotate 90° clockwise to display) reads as 2×4.
    const bytes = await sharp(Buffer.alloc(4 * 2 * 3, 128), { raw: { width: 4, height: 2, channels: 3 } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const img = await readImage(bytes);
    expect([img.width, img.height]).toEqual([2, 4]);
  });

  it('reads a mask as one grey plane', async () => {
    const f = tmp.file('mask.png');
    await writeImage(gradientImage(10, 10), f, { force: true });
    expect((await readImage(f, { mode: 'grey' })).channels).toBe(1);
  });
});

describe('readImage: bad input gets a clear AtelierError', () => {
  it('missing file', async () => {
    const e = await expectCode(readImage(tmp.file('nope.png')), 'E_FILE_NOT_FOUND');
    expect(e.message).toContain('does not exist');
  });

  it('a directory instead of a file', async () => {
    mkdirSync(tmp.file('adir'), { recursive: true });
    const e = await expectCode(readImage(tmp.file('adir')), 'E_FILE_NOT_FOUND');
    expect(e.message).toContain('directory');
  });

  it('an empty file', async () => {
    writeFileSync(tmp.file('empty.png'), '');
    const e = await expectCode(readImage(tmp.file('empty.png')), 'E_IMAGE_DECODE');
    expect(e.message).toContain('empty file');
  });

  it('a text file named .png', async () => {
    writeFileSync(tmp.file('text.png'), 'this is not an image at all');
    const e = await expectCode(readImage(tmp.file('text.png')), 'E_IMAGE_DECODE');
    expect(e.message).toMatch(/expected an image file/);
  });

  it('truncated JPEG and PNG', async () => {
    const jpg = await jpegBytes();
    writeFileSync(tmp.file('cut.jpg'), jpg.subarray(0, Math.floor(jpg.length / 2)));
    await expectCode(readImage(tmp.file('cut.jpg')), 'E_IMAGE_DECODE');
    const png = await encodeImage(noiseImage(120, 90, 3), 'png');
    writeFileSync(tmp.file('cut.png'), png.subarray(0, Math.floor(png.length / 2)));
    await expectCode(readImage(tmp.file('cut.png')), 'E_IMAGE_DECODE');
  });

  it('an image of 0×N', async () => {
    const e = await readImage(pngWithHeader(0, 10)).catch((err: AtelierError) => err);
    expect(e).toBeInstanceOf(AtelierError);
    expect(['E_IMAGE_EMPTY', 'E_IMAGE_DECODE']).toContain((e as AtelierError).code);
  });

  it('an image over the pixel limit, and a decompression bomb, refused from the header', async () => {
    const f = tmp.file('big.png');
    await writeImage(gradientImage(200, 100), f, { force: true });
    const e = await expectCode(readImage(f, { maxPixels: 10_000 }), 'E_TOO_LARGE');
    expect(e.message).toContain('200×100');
    const bomb = pngWithHeader(50_000, 50_000);
    expect(bomb.length).toBeLessThan(1000);
    const b = await expectCode(readImage(bomb), 'E_TOO_LARGE');
    expect(b.message).toContain('100,000,000');
  });
});

describe('writeImage', () => {
  it('picks the format from the extension and refuses unknown ones', async () => {
    expect(formatForPath('a/b.JPEG')).toBe('jpeg');
    expect(() => formatForPath('out.bmpx')).toThrow(/\.bmpx/);
    expect(() => formatForPath('out')).toThrow(/no extension/);
  });

  it('refuses to overwrite without force, and replaces atomically with force', async () => {
    const f = tmp.file('keep.png');
    writeFileSync(f, 'precious');
    await expectCode(writeImage(gradientImage(8, 8), f), 'E_OUTPUT_EXISTS');
    expect(readFileSync(f, 'utf8')).toBe('precious');
    await writeImage(gradientImage(8, 8), f, { force: true });
    expect((await imageInfo(f)).format).toBe('png');
    expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('reports a missing directory and an unwritable location, leaving nothing behind', async () => {
    const e = await expectCode(writeImage(gradientImage(8, 8), tmp.file('missing/dir/out.png')), 'E_OUTPUT_WRITE');
    expect(e.message).toContain('does not exist');
    expect(existsSync(tmp.file('missing'))).toBe(false);
    // /sys refuses new files even to root; elsewhere use a read-only directory.
    const unwritable = process.getuid?.() === 0 ? '/sys/atelier-test.png' : '/proc/atelier-test.png';
    await expectCode(writeImage(gradientImage(8, 8), unwritable), 'E_OUTPUT_WRITE');
  });
});
