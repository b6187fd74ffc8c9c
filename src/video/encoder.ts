import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../core/errors.js';
import { lastWords, startTool, type ToolProcess } from './ffmpeg.js';
import type { VideoOutputFormat } from './output-format.js';
import type { VideoProbe } from './probe.js';
import { frameTiming, timingExpression } from './timestamps.js';

/**
 * Stylised frames into a video file through `ffmpeg`, fed raw RGB over a pipe as they finish (the
 * encoder runs beside the stylisation). It writes a hidden temporary next to the output and renames
 * it into place only when ffmpeg has finished cleanly, so a failure or Ctrl-C never leaves a half
 * video under the output's name. The source clip is a second input: its audio track is copied (or
 * re-encoded where the container needs another codec), and its frame times, rotation and pixel
 * aspect are written back.
 */

export interface EncoderOptions {
  output: string;
  format: VideoOutputFormat;
  source: VideoProbe;
  /** Size of the frames given to `write`. */
  width: number;
  height: number;
  crf?: number;
  force?: boolean;
}

/** Audio codecs each container takes as they are. */
const AUDIO_COPY: Record<string, Set<string>> = {
  mp4: new Set(['aac', 'mp3', 'alac', 'ac3', 'eac3']),
  webm: new Set(['opus', 'vorbis']),
};

export class VideoEncoder {
  private closed = false;
  private frames = 0;

  private constructor(
    private readonly proc: ToolProcess,
    private readonly options: EncoderOptions,
    /** The temporary file (or, for a PNG sequence, directory) ffmpeg writes. */
    private readonly temp: string,
  ) {}

  static async start(options: EncoderOptions): Promise<VideoEncoder> {
    const { output, format } = options;
    const dir = path.dirname(path.resolve(output));
    const dirStat = await fs.stat(dir).catch(() => undefined);
    if (!dirStat?.isDirectory()) {
      throw new AtelierError('E_OUTPUT_WRITE', `Cannot write ${JSON.stringify(output)}`, {
        expected: 'an output path in an existing directory',
        received: `${dir}, which does not exist or is not a directory`,
        hint: 'create the directory first',
      });
    }
    if (format.container !== 'png-sequence' && !options.force && (await fs.stat(output).catch(() => undefined))) {
      throw new AtelierError('E_OUTPUT_EXISTS', `Refusing to overwrite ${JSON.stringify(output)}`, {
        hint: 'pass --force to replace it, or choose another output name',
      });
    }
    const tag = `${process.pid}.${randomBytes(4).toString('hex')}`;
    let temp: string;
    let target: string;
    if (format.container === 'png-sequence') {
      temp = path.join(dir, `.atelier-frames.${tag}.tmp`);
      await fs.mkdir(temp);
      target = path.join(temp, path.basename(output));
    } else {
      temp = path.join(dir, `.${path.basename(output)}.${tag}.tmp`);
      target = temp;
    }
    const proc = startTool('ffmpeg', encoderArgs(options, target), { stdin: true, stdout: false });
    // Writing after ffmpeg died raises EPIPE on the pipe; the exit status tells the real reason.
    proc.child.stdin!.on('error', () => undefined);
    return new VideoEncoder(proc, options, temp);
  }

  get written(): number {
    return this.frames;
  }

  async write(rgb: Uint8Array): Promise<void> {
    const stdin = this.proc.child.stdin!;
    if (stdin.destroyed || stdin.writableEnded) throw await this.failure();
    const ok = stdin.write(rgb);
    this.frames++;
    if (!ok) {
      const drained = await Promise.race([
        new Promise<boolean>((resolve) => stdin.once('drain', () => resolve(true))),
        this.proc.exited.then(() => false, () => false),
      ]);
      if (!drained) throw await this.failure();
    }
  }

  /** Close the pipe, wait for ffmpeg, and move the result into place. */
  async finish(): Promise<void> {
    this.proc.child.stdin!.end();
    let code: number | null;
    try {
      code = await this.proc.exited;
    } catch (e) {
      await this.discard();
      throw e;
    }
    if (code !== 0) throw await this.failure();
    try {
      await this.commit();
    } catch (e) {
      await this.discard();
      throw e;
    } finally {
      this.closed = true;
    }
  }

  /** Stop ffmpeg and remove what it wrote. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.proc.child.kill('SIGKILL');
    await this.proc.exited.catch(() => undefined);
    await this.discard();
  }

  private async discard(): Promise<void> {
    this.closed = true;
    await fs.rm(this.temp, { recursive: true, force: true }).catch(() => undefined);
  }

  private async failure(): Promise<AtelierError> {
    let code: number | null | undefined;
    try {
      code = await this.proc.exited;
    } catch (e) {
      await this.discard();
      return e instanceof AtelierError ? e : new AtelierError('E_OUTPUT_WRITE', 'ffmpeg could not be started', { cause: e });
    }
    await this.discard();
    const words = lastWords(this.proc.stderr());
    const full = /No space left on device|ENOSPC|Disk quota exceeded/i.test(words);
    return new AtelierError('E_OUTPUT_WRITE', `Cannot write ${JSON.stringify(this.options.output)}`, {
      received: words ? `ffmpeg: ${words}` : `ffmpeg exit status ${code}`,
      hint: full ? 'the disk is full: free some space (or write elsewhere) and run again with --resume' : 'check the directory is writable and the disk has space',
    });
  }

  /**
   * ffmpeg 5 writes the rotate tag only when it copies a stream, not when it encodes one: the
   * encoded file is remuxed once more with the tag (ffprobe reports a tag of T degrees as rotation T).
   */
  private async tagRotation(): Promise<void> {
    const tagged = `${this.temp}.rot`;
    const tag = (this.options.source.rotation + 360) % 360;
    const p = startTool('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', this.temp, '-map', '0', '-c', 'copy', '-metadata:s:v:0', `rotate=${tag}`, '-movflags', '+faststart', '-f', 'mp4', tagged], { stdin: false, stdout: false });
    const code = await p.exited;
    if (code !== 0) {
      await fs.rm(tagged, { force: true });
      throw new AtelierError('E_OUTPUT_WRITE', `Cannot write ${JSON.stringify(this.options.output)}`, { received: `ffmpeg: ${lastWords(p.stderr())}`, hint: 'check the disk has space' });
    }
    await fs.rename(tagged, this.temp);
  }

  private async commit(): Promise<void> {
    const { output, force } = this.options;
    if (this.options.format.rotationMetadata && this.options.source.rotation !== 0) await this.tagRotation();
    if (this.options.format.container !== 'png-sequence') {
      const handle = await fs.open(this.temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(this.temp, output);
      return;
    }
    // A sequence: every frame is renamed into place after all were written; none is replaced
    // without --force.
    const dest = path.dirname(path.resolve(output));
    const names = (await fs.readdir(this.temp)).sort();
    if (!force) {
      for (const n of names) {
        if (await fs.stat(path.join(dest, n)).catch(() => undefined)) {
          throw new AtelierError('E_OUTPUT_EXISTS', `Refusing to overwrite ${JSON.stringify(path.join(path.dirname(output), n))}`, {
            hint: 'pass --force to replace the frames, or choose another pattern',
          });
        }
      }
    }
    for (const n of names) await fs.rename(path.join(this.temp, n), path.join(dest, n));
    await fs.rm(this.temp, { recursive: true, force: true });
  }
}

function encoderArgs(o: EncoderOptions, target: string): string[] {
  const { source, format } = o;
  const timing = frameTiming(source.timestamps, source.frameRate);
  const rate = timing.kind === 'constant' ? timing.rate : source.frameRate;
  const input = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${o.width}x${o.height}`, '-r', `${rate.num}/${rate.den}`, '-i', 'pipe:0'];
  const withAudio = format.audio && source.audio !== undefined;
  const filters: string[] = [];
  if (timing.kind === 'variable') filters.push('settb=1/90000', `setpts='(${timingExpression(timing.pieces)})/TB'`);
  if (o.width !== source.width || o.height !== source.height) filters.push(`scale=${source.width}:${source.height}:flags=bicubic`);
  if (source.sampleAspect) {
    const { num, den } = source.sampleAspect;
    filters.push(format.sampleAspect ? `setsar=${num}/${den}` : `scale=trunc(iw*${num}/${den}/2)*2:ih,setsar=1`);
  }
  if (!format.rotationMetadata) filters.push(...turnFilters(source.rotation));
  const out: string[] = [];
  switch (format.container) {
    case 'mp4':
      filters.push('crop=trunc(iw/2)*2:trunc(ih/2)*2');
      out.push('-c:v', 'libx264', '-preset', 'medium', '-crf', String(o.crf ?? 20), '-pix_fmt', 'yuv420p', '-movflags', '+faststart');
      if (withAudio) out.push('-c:a', AUDIO_COPY.mp4!.has(source.audio!.codec) ? 'copy' : 'aac');
      out.push('-f', 'mp4');
      break;
    case 'webm':
      filters.push('crop=trunc(iw/2)*2:trunc(ih/2)*2');
      out.push('-c:v', 'libvpx-vp9', '-crf', String(o.crf ?? 32), '-b:v', '0', '-row-mt', '1', '-deadline', 'good', '-cpu-used', '4', '-pix_fmt', 'yuv420p');
      if (withAudio) out.push('-c:a', AUDIO_COPY.webm!.has(source.audio!.codec) ? 'copy' : 'libopus');
      out.push('-f', 'webm');
      break;
    case 'gif':
      // One palette per frame keeps ffmpeg streaming (a palette for the whole clip would hold every frame).
      filters.push('split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1:dither=bayer');
      out.push('-f', 'gif', '-loop', '0');
      break;
    case 'png-sequence':
      out.push('-c:v', 'png', '-f', 'image2', '-start_number', '1');
      break;
  }
  const maps = ['-map', filters.length > 0 ? '[v]' : '0:v:0', ...(withAudio ? ['-map', '1:a:0?'] : [])];
  const fpsMode = timing.kind === 'variable' ? ['-fps_mode', 'passthrough'] : [];
  return [
    '-nostdin', '-v', 'error', '-y',
    ...input,
    ...(withAudio ? ['-i', source.file] : []),
    ...maps,
    ...(filters.length > 0 ? ['-filter_complex', `[0:v:0]${filters.join(',')}[v]`] : []),
    ...fpsMode,
    ...out,
    target,
  ];
}

/** Filters that turn the frames upright, for containers without rotation metadata. */
function turnFilters(rotation: number): string[] {
  // ffprobe's rotation is counter-clockwise: -90 means the picture is shown turned 90° clockwise.
  switch (rotation) {
    case -90:
      return ['transpose=clock'];
    case 90:
      return ['transpose=cclock'];
    case 180:
      return ['hflip', 'vflip'];
    default:
      return [];
  }
}
