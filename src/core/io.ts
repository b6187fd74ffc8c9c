import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Metadata } from 'sharp';
import { AtelierError, wrapError } from './errors.js';
import { Image } from './image.js';
import { fitWithin } from './resample.js';

/**
 * sharp (libvips) loads with the first image read or written, not with this module: a CLI start
 * that reads no image (`atelier --help`, `atelier methods`, a usage error) does not pay for it.
 */
async function loadSharp(): Promise<(typeof import('sharp'))['default']> {
  return (await import('sharp')).default;
}

/** Default pixel limit for decoding (width × height), overridable by option or ATELIER_MAX_PIXELS. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

export function maxPixelsFromEnv(): number {
  const v = process.env.ATELIER_MAX_PIXELS;
  if (v === undefined || v === '') return DEFAULT_MAX_PIXELS;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new AtelierError('E_PARAM', 'ATELIER_MAX_PIXELS must be a positive number', { received: JSON.stringify(v) });
  }
  return Math.floor(n);
}

export interface ReadOptions {
  /** Refuse images with more pixels than this (default 100 MP). Checked from the header, before decoding. */
  maxPixels?: number;
  /** A name for messages when reading from a buffer. */
  name?: string;
  /** 'rgb' (default) always yields 3 channels; 'grey' yields one channel (masks, luminance). */
  mode?: 'rgb' | 'grey';
  /** Read an animation's first frame instead of refusing it (for `atelier info`'s mean colour). */
  firstFrame?: boolean;
  /**
   * The working size's long side: an image more than twice that is decoded straight to twice the
   * working size (libvips shrinks while it decodes, a strip at a time, JPEG even in the decoder),
   * so a huge image is never held whole. Exactly twice, so the caller's own last halving lands on
   * the same size as from the full image.
   */
  shrinkFor?: number;
}

export type ImageSource = string | Uint8Array;

const EXTENSION_FORMATS = {
  '.png': 'png',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.webp': 'webp',
  '.tif': 'tiff',
  '.tiff': 'tiff',
  '.avif': 'avif',
} as const;

export type OutputFormat = (typeof EXTENSION_FORMATS)[keyof typeof EXTENSION_FORMATS];

export const OUTPUT_EXTENSIONS = Object.keys(EXTENSION_FORMATS);

/** Read, verify and return the bytes of a path, with precise errors for the usual mistakes. */
async function readSourceBytes(source: ImageSource, name: string): Promise<Uint8Array> {
  if (typeof source !== 'string') return source;
  let stat;
  try {
    stat = await fs.stat(source);
  } catch (e) {
    throw new AtelierError('E_FILE_NOT_FOUND', `Cannot read image ${JSON.stringify(source)}`, {
      expected: 'an existing image file',
      received: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'a path that does not exist' : String((e as Error).message),
      hint: 'check the path and spelling',
      subject: name,
      cause: e,
    });
  }
  if (stat.isDirectory()) {
    throw new AtelierError('E_FILE_NOT_FOUND', `Cannot read image ${JSON.stringify(source)}`, {
      expected: 'an image file',
      received: 'a directory',
      hint: 'name a file inside it',
      subject: name,
    });
  }
  try {
    return await fs.readFile(source);
  } catch (e) {
    throw wrapError(e, 'E_FILE_NOT_FOUND', `Cannot read image ${JSON.stringify(source)}`, { subject: name });
  }
}

export interface ImageInfo {
  format: string;
  width: number;
  height: number;
  channels: number;
  depth: string;
  space: string;
  hasAlpha: boolean;
  isPalette: boolean;
  orientation?: number;
  hasIccProfile: boolean;
  bytes: number;
  /** Frames of an animation (GIF, WebP) or pages of a TIFF; 1 for a still image. */
  pages: number;
}

function describeSource(source: ImageSource, name: string | undefined): string {
  return name ?? (typeof source === 'string' ? JSON.stringify(source) : 'image buffer');
}

const RAISE_LIMIT_HINT = 'shrink the image first, or raise the limit with ATELIER_MAX_PIXELS (or --max-pixels)';

async function headerOf(bytes: Uint8Array, label: string, maxPixels: number, tooLargeHint = RAISE_LIMIT_HINT): Promise<Metadata> {
  if (bytes.length === 0) {
    throw new AtelierError('E_IMAGE_DECODE', `Cannot decode ${label}`, {
      expected: 'an image file (PNG, JPEG, WebP, TIFF, AVIF)',
      received: 'an empty file (0 bytes)',
      subject: label,
    });
  }
  let meta: Metadata;
  try {
    const sharp = await loadSharp();
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw wrapError(e, 'E_IMAGE_DECODE', `Cannot decode ${label}`, {
      expected: 'an image file (PNG, JPEG, WebP, TIFF, AVIF)',
      received: `${bytes.length} bytes that are not a readable image`,
      hint: 'check that the file is a complete image and not renamed from another format',
      subject: label,
    });
  }
  const w = meta.autoOrient?.width ?? meta.width ?? 0;
  const h = meta.autoOrient?.height ?? meta.height ?? 0;
  if (w <= 0 || h <= 0) {
    throw new AtelierError('E_IMAGE_EMPTY', `${label} has no pixels`, { received: `${w}×${h}`, subject: label });
  }
  if (w * h > maxPixels) {
    throw new AtelierError('E_TOO_LARGE', `${label} is too large to decode`, {
      expected: `at most ${maxPixels.toLocaleString('en')} pixels`,
      received: `${w}×${h} = ${(w * h).toLocaleString('en')} pixels`,
      hint: tooLargeHint,
      subject: label,
    });
  }
  return meta;
}

/**
 * The oriented size of an image from its header alone (a path is not read beyond it), or
 * undefined when the header cannot be read: decoding then gives the precise error.
 */
export async function imageDimensions(source: ImageSource): Promise<{ width: number; height: number } | undefined> {
  try {
    const sharp = await loadSharp();
    const meta = await sharp(source, { limitInputPixels: false }).metadata();
    const width = meta.autoOrient?.width ?? meta.width ?? 0;
    const height = meta.autoOrient?.height ?? meta.height ?? 0;
    return width > 0 && height > 0 ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}

/** Describe an image file without decoding its pixels. */
export async function imageInfo(source: ImageSource, options: ReadOptions = {}): Promise<ImageInfo> {
  const label = describeSource(source, options.name);
  const bytes = await readSourceBytes(source, label);
  const meta = await headerOf(bytes, label, Number.POSITIVE_INFINITY);
  return {
    format: meta.format ?? 'unknown',
    width: meta.autoOrient?.width ?? meta.width ?? 0,
    height: meta.autoOrient?.height ?? meta.height ?? 0,
    channels: meta.channels ?? 0,
    depth: meta.depth ?? 'unknown',
    space: meta.space ?? 'unknown',
    hasAlpha: meta.hasAlpha ?? false,
    isPalette: meta.isPalette ?? false,
    ...(meta.orientation !== undefined && { orientation: meta.orientation }),
    hasIccProfile: meta.icc !== undefined,
    bytes: bytes.length,
    pages: meta.pages ?? 1,
  };
}

/**
 * An animated GIF or WebP would be read as its first frame only: refuse it rather than lose the
 * rest without a word. (A multi-page TIFF's first page is its image; further pages are thumbnails
 * or layers, so TIFFs are read as before.)
 */
export function refuseAnimation(meta: Metadata, label: string): void {
  const pages = meta.pages ?? 1;
  if (pages <= 1 || (meta.format !== 'gif' && meta.format !== 'webp' && meta.delay === undefined)) return;
  throw new AtelierError('E_FORMAT', `${label} is an animation of ${pages} frames`, {
    expected: 'a still image',
    received: `an animated ${meta.format ?? 'image'} (${pages} frames)`,
    hint: 'stylise every frame with `atelier video`, or take one frame first (e.g. `ffmpeg -i in.gif -frames:v 1 frame.png`)',
    subject: label,
  });
}

export interface CheckImageOptions {
  /** Names the image in errors. */
  name: string;
  maxPixels: number;
  /** sharp's format names to accept (e.g. the server's upload list); any decodable format when absent. */
  formats?: ReadonlySet<string>;
  /** What an E_TOO_LARGE tells the user to do (the server's limit is not the user's to raise). */
  tooLargeHint?: string;
}

/**
 * Check that bytes are a whole still image within the pixel limit, without keeping its pixels: the
 * same header checks as readImage, then a decode shrunk to 64 px so memory stays small (a header
 * can be intact over truncated data). The server runs this on every upload before queueing a job.
 */
export async function checkImage(bytes: Uint8Array, options: CheckImageOptions): Promise<void> {
  const label = options.name;
  const meta = await headerOf(bytes, label, options.maxPixels, options.tooLargeHint);
  if (options.formats && !(meta.format && options.formats.has(meta.format))) {
    throw new AtelierError('E_IMAGE_DECODE', `Cannot accept ${label}`, {
      expected: `one of these formats: ${[...options.formats].join(', ')}`,
      received: `a ${meta.format ?? 'unknown'} file`,
      subject: label,
    });
  }
  refuseAnimation(meta, label);
  try {
    const sharp = await loadSharp();
    await sharp(bytes, { failOn: 'error', limitInputPixels: options.maxPixels }).resize(64, 64, { fit: 'inside' }).raw().toBuffer();
  } catch (e) {
    throw wrapError(e, 'E_IMAGE_DECODE', `Cannot decode ${label}`, {
      expected: 'a complete, uncorrupted image',
      received: `a ${meta.format ?? 'unknown'} file of ${bytes.length} bytes that fails to decode (truncated or corrupt?)`,
      hint: 'export the image again from its source',
      subject: label,
    });
  }
}

/**
 * Decode an image into planar float RGB (or one grey plane) in [0, 1].
 * EXIF orientation is applied, embedded ICC profiles are converted to sRGB, CMYK and greyscale
 * are converted, 16-bit sources keep their precision, and alpha is kept aside in `image.alpha`.
 */
export async function readImage(source: ImageSource, options: ReadOptions = {}): Promise<Image> {
  const label = describeSource(source, options.name);
  const maxPixels = options.maxPixels ?? maxPixelsFromEnv();
  const bytes = await readSourceBytes(source, label);
  const meta = await headerOf(bytes, label, maxPixels);
  if (!options.firstFrame) refuseAnimation(meta, label);
  const sixteen = meta.depth === 'ushort' || meta.depth === 'short';
  try {
    const sharp = await loadSharp();
    let pipe = sharp(bytes, { limitInputPixels: Number.isFinite(maxPixels) ? maxPixels : false, failOn: 'error', sequentialRead: true }).autoOrient();
    const w = meta.autoOrient?.width ?? meta.width ?? 0;
    const h = meta.autoOrient?.height ?? meta.height ?? 0;
    const working = fitWithin(w, h, options.shrinkFor);
    if (w > 2 * working.width && h > 2 * working.height) pipe = pipe.resize(2 * working.width, 2 * working.height, { fit: 'fill', kernel: 'lanczos3' });
    pipe = pipe.toColourspace(sixteen ? 'rgb16' : 'srgb');
    const { data, info } = await pipe.raw(sixteen ? { depth: 'ushort' } : {}).toBuffer({ resolveWithObject: true });
    const samples = sixteen ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2) : data;
    return deinterleave(info.width, info.height, info.channels, samples, sixteen ? 65535 : 255, options.mode ?? 'rgb');
  } catch (e) {
    throw wrapError(e, 'E_IMAGE_DECODE', `Cannot decode ${label}`, {
      expected: 'a complete, uncorrupted image',
      received: `a ${meta.format ?? 'unknown'} file of ${bytes.length} bytes that fails to decode (truncated or corrupt?)`,
      hint: 'export the image again from its source',
      subject: label,
    });
  }
}

/**
 * Decoded samples (HWC; 1–4 channels, alpha last when 2 or 4) → planar RGB or one grey plane, in
 * one pass with no intermediate copy. Alpha is kept aside only when some pixel is not opaque.
 */
function deinterleave(width: number, height: number, channels: number, samples: ArrayLike<number>, maxValue: number, mode: 'rgb' | 'grey'): Image {
  const n = width * height;
  const hasAlpha = channels === 2 || channels === 4;
  const colorChannels = hasAlpha ? channels - 1 : channels;
  const scale = 1 / maxValue;
  const out = new Image(width, height, mode === 'grey' ? 1 : 3);
  const d = out.data;
  for (let i = 0, j = 0; i < n; i++, j += channels) {
    const r = samples[j]! * scale;
    const g = colorChannels >= 3 ? samples[j + 1]! * scale : r;
    const b = colorChannels >= 3 ? samples[j + 2]! * scale : r;
    if (mode === 'grey') {
      d[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    } else {
      d[i] = r;
      d[n + i] = g;
      d[2 * n + i] = b;
    }
  }
  if (hasAlpha) {
    const alpha = new Float32Array(n);
    let opaque = true;
    for (let i = 0, j = channels - 1; i < n; i++, j += channels) {
      const a = samples[j]! * scale;
      alpha[i] = a;
      if (a < 1) opaque = false;
    }
    if (!opaque) out.alpha = alpha;
  }
  return out;
}

/** Output format implied by a file name's extension. */
export function formatForPath(file: string): OutputFormat {
  const ext = path.extname(file).toLowerCase();
  const format = (EXTENSION_FORMATS as Record<string, OutputFormat>)[ext];
  if (!format) {
    throw new AtelierError('E_FORMAT', `Cannot tell the output format of ${JSON.stringify(file)}`, {
      expected: `a file name ending in ${OUTPUT_EXTENSIONS.join(', ')}`,
      received: ext === '' ? 'no extension' : JSON.stringify(ext),
    });
  }
  return format;
}

export interface EncodeOptions {
  /** 1–100 for lossy formats (default 92). */
  quality?: number;
  /** 8 (default) or 16 bits per sample, for PNG and TIFF. */
  bitDepth?: 8 | 16;
}

/** Encode an image into a file format's bytes. Samples are clamped to [0, 1]. */
export async function encodeImage(image: Image, format: OutputFormat, options: EncodeOptions = {}): Promise<Buffer> {
  const sixteen = options.bitDepth === 16 && (format === 'png' || format === 'tiff');
  const channels = image.channels + (image.alpha ? 1 : 0);
  const raw = sixteen ? image.toInterleaved(65535) : image.toInterleaved(255);
  const quality = options.quality ?? 92;
  const sharp = await loadSharp();
  let pipe = sharp(raw, { raw: { width: image.width, height: image.height, channels: channels as 1 | 2 | 3 | 4 } });
  if (sixteen) pipe = pipe.toColourspace(image.channels === 1 ? 'grey16' : 'rgb16');
  try {
    switch (format) {
      case 'png':
        return await pipe.png({ compressionLevel: 6 }).toBuffer();
      case 'jpeg':
        return await pipe.jpeg({ quality, mozjpeg: false }).toBuffer();
      case 'webp':
        return await pipe.webp({ quality }).toBuffer();
      case 'tiff':
        return await pipe.tiff({ compression: 'deflate' }).toBuffer();
      case 'avif':
        return await pipe.avif({ quality }).toBuffer();
    }
  } catch (e) {
    throw wrapError(e, 'E_FORMAT', `Cannot encode the image as ${format}`, {
      received: `${image.width}×${image.height}, ${channels} channels`,
    });
  }
}

export interface WriteOptions extends EncodeOptions {
  /** Replace an existing file (default false: refuse). */
  force?: boolean;
}

/**
 * Write bytes to `file` atomically: into a temporary file beside it, then rename. A crash or an
 * error never leaves a half-written output, and an existing file is kept unless `force`.
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string, options: { force?: boolean } = {}): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  let dirStat;
  try {
    dirStat = await fs.stat(dir);
  } catch {
    throw new AtelierError('E_OUTPUT_WRITE', `Cannot write ${JSON.stringify(file)}`, {
      expected: 'an output path in an existing directory',
      received: `a directory that does not exist (${dir})`,
      hint: 'create the directory first',
    });
  }
  if (!dirStat.isDirectory()) {
    throw new AtelierError('E_OUTPUT_WRITE', `Cannot write ${JSON.stringify(file)}`, {
      expected: 'an output path in a directory',
      received: `${dir}, which is a file`,
    });
  }
  const existing = await fs.stat(file).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw new AtelierError('E_OUTPUT_WRITE', `Cannot write ${JSON.stringify(file)}`, {
      expected: 'a file name',
      received: 'a directory',
    });
  }
  if (existing && !options.force) {
    throw new AtelierError('E_OUTPUT_EXISTS', `Refusing to overwrite ${JSON.stringify(file)}`, {
      hint: 'pass --force to replace it, or choose another output name',
    });
  }
  await removeStrayTemps(dir);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  inFlight.add(tmp);
  try {
    const handle = await fs.open(tmp, 'wx');
    try {
      await handle.writeFile(bytes);
      // The replaced file's permissions carry over (a read-only result stays read-only).
      if (existing) await handle.chmod(existing.mode & 0o7777);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw wrapError(e, 'E_OUTPUT_WRITE', `Cannot write ${JSON.stringify(file)}`, {
      hint: 'check the directory is writable and the disk has space',
    });
  } finally {
    inFlight.delete(tmp);
  }
}

/** Temporary files this process is writing now (never swept). */
const inFlight = new Set<string>();
/** Directories already swept by this process: once each is enough. */
const swept = new Set<string>();
const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A process killed mid-write (SIGKILL, power loss) leaves its `.name.PID.xxxx.tmp` behind. The
 * next write into the same directory removes those whose writer is gone: the PID is in the name,
 * and a live process's (this one's included) are left alone.
 */
export async function removeStrayTemps(dir: string): Promise<string[]> {
  if (swept.has(dir)) return [];
  swept.add(dir);
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const full = path.join(dir, name);
    const pid = Number(m[1]);
    // This process's own temp files are never stray: another thread or writer (the video encoder
    // names its file the same way) may be filling one right now.
    if (inFlight.has(full) || pid === process.pid || processAlive(pid)) continue;
    await fs.rm(full, { force: true }).catch(() => undefined);
    removed.push(full);
  }
  return removed;
}

/** Encode by the file's extension and write it atomically. */
export async function writeImage(image: Image, file: string, options: WriteOptions = {}): Promise<void> {
  const format = formatForPath(file);
  const bytes = await encodeImage(image, format, options);
  await writeFileAtomic(file, bytes, options);
}
