import { AtelierError } from '../core/errors.js';
import { lastWords, startTool } from './ffmpeg.js';
import type { VideoProbe } from './probe.js';

/**
 * Frames of a clip as raw RGB (8 bits, interleaved), streamed from `ffmpeg` through a pipe one
 * frame at a time: memory holds the frame being assembled and those the consumer has not taken
 * (the pipe's backpressure stops ffmpeg when nobody reads). Frames keep their stored orientation
 * (-noautorotate; the rotation is written back as metadata) and every frame is passed, none
 * duplicated or dropped (-fps_mode passthrough), so variable frame rates survive.
 */

export interface DecodeOptions {
  /** Size to decode at (default: the stored size). */
  width?: number;
  height?: number;
  signal?: AbortSignal;
}

export async function* decodeFrames(probe: VideoProbe, options: DecodeOptions = {}): AsyncGenerator<Uint8Array> {
  const width = options.width ?? probe.width;
  const height = options.height ?? probe.height;
  const scale = width !== probe.width || height !== probe.height ? ['-vf', `scale=${width}:${height}:flags=area`] : [];
  const proc = startTool(
    'ffmpeg',
    ['-nostdin', '-v', 'error', '-noautorotate', '-i', probe.file, '-map', '0:v:0', '-fps_mode', 'passthrough', ...scale, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { stdin: false, stdout: true },
  );
  const onAbort = () => proc.child.kill('SIGKILL');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const frameBytes = width * height * 3;
  let frame = new Uint8Array(frameBytes);
  let filled = 0;
  let count = 0;
  let finished = false;
  try {
    for await (const chunk of proc.child.stdout! as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(frameBytes - filled, chunk.length - offset);
        frame.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === frameBytes) {
          count++;
          yield frame;
          frame = new Uint8Array(frameBytes);
          filled = 0;
        }
      }
    }
    const code = await proc.exited;
    finished = true;
    if (options.signal?.aborted) return;
    const expected = probe.timestamps.length;
    if (code !== 0 || filled !== 0 || count < expected) {
      const words = lastWords(proc.stderr());
      throw new AtelierError('E_IMAGE_DECODE', `The video stream of ${JSON.stringify(probe.file)} is truncated or corrupt`, {
        expected: `${expected} frame${expected === 1 ? '' : 's'}`,
        received: `${count} whole frames${words ? ` (ffmpeg: ${words})` : code !== 0 ? ` (ffmpeg exit status ${code})` : ''}`,
        hint: 'the file may be cut short: download or export it again',
        subject: probe.file,
      });
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (!finished) {
      // The consumer stopped early (an error, Ctrl-C): do not leave ffmpeg running.
      proc.child.kill('SIGKILL');
      await proc.exited.catch(() => undefined);
    }
  }
}
