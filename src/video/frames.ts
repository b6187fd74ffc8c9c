import { spawn } from 'node:child_process';
import { AtelierError } from '../core/errors.js';
import { Image } from '../core/image.js';
import { fitWithin } from '../core/resample.js';

/**
 * Decoding video frames through the `ffmpeg` and `ffprobe` programs (Debian `ffmpeg`): frames come
 * out as raw RGB at a size that fits `maxSide`, so no frame is ever held larger than needed.
 * Without ffmpeg the call fails with E_DEPENDENCY and what to install.
 */

export interface VideoInfo {
  width: number;
  height: number;
  /** Frames per second, when the container says. */
  fps?: number;
}

export interface ReadFramesOptions {
  /** Decode at most this many frames from the start (default 24). */
  maxFrames?: number;
  /** Long side of the decoded frames (default: the video's own size). */
  maxSide?: number;
  signal?: AbortSignal;
}

function run(program: string, args: string[], signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal && { signal }) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        reject(
          new AtelierError('E_DEPENDENCY', `Reading video needs the ${program} program, which is not installed`, {
            hint: 'install ffmpeg (Debian: apt-get install ffmpeg)',
            cause: e,
          }),
        );
      } else if (e.name === 'AbortError') {
        reject(new AtelierError('E_ABORTED', 'The run was cancelled', { cause: e }));
      } else reject(e);
    });
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else {
        const text = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-2).join(' ');
        reject(new AtelierError('E_IMAGE_DECODE', `${program} could not read the video`, { received: text || `exit status ${code}`, hint: 'check that the file is a complete video' }));
      }
    });
  });
}

export async function videoInfo(file: string, signal?: AbortSignal): Promise<VideoInfo> {
  const out = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,avg_frame_rate', '-of', 'json', file], signal);
  const stream = (JSON.parse(out.toString('utf8')) as { streams?: { width?: number; height?: number; avg_frame_rate?: string }[] }).streams?.[0];
  if (!stream?.width || !stream.height) {
    throw new AtelierError('E_IMAGE_DECODE', 'The file has no video stream', { subject: file });
  }
  const [num, den] = (stream.avg_frame_rate ?? '').split('/').map(Number);
  return { width: stream.width, height: stream.height, ...(num && den ? { fps: num / den } : {}) };
}

/** The first frames of a video as RGB images in [0, 1]. */
export async function readVideoFrames(file: string, options: ReadFramesOptions = {}): Promise<Image[]> {
  const info = await videoInfo(file, options.signal);
  const { width, height } = fitWithin(info.width, info.height, options.maxSide);
  const maxFrames = options.maxFrames ?? 24;
  const raw = await run(
    'ffmpeg',
    ['-v', 'error', '-i', file, '-frames:v', String(maxFrames), '-vf', `scale=${width}:${height}:flags=area`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    options.signal,
  );
  const frameBytes = width * height * 3;
  const count = Math.floor(raw.length / frameBytes);
  if (count === 0) throw new AtelierError('E_IMAGE_DECODE', 'The video has no frames', { subject: file });
  return Array.from({ length: count }, (_, k) => Image.fromInterleaved(width, height, 3, raw.subarray(k * frameBytes, (k + 1) * frameBytes), 255));
}
