import path from 'node:path';
import { AtelierError } from '../core/errors.js';

/**
 * The output's container and codecs follow its name: `.mp4`/`.mov`/`.m4v` H.264 (yuv420p, fast
 * start), `.webm` VP9 + Opus, `.gif` with a palette made for the clip, and a PNG sequence when the
 * name holds a frame-number pattern (`frames/out_%05d.png`).
 */

export type VideoContainer = 'mp4' | 'webm' | 'gif' | 'png-sequence';

export interface VideoOutputFormat {
  container: VideoContainer;
  /** Whether the container can carry rotation as metadata (else frames are turned). */
  rotationMetadata: boolean;
  /** Whether the container keeps an audio track. */
  audio: boolean;
  /** Whether it can carry a non-square pixel aspect. */
  sampleAspect: boolean;
  /** Default constant-rate factor (lower is better quality), for codecs that have one. */
  defaultCrf?: number;
  crfRange?: [number, number];
}

const FORMATS: Record<VideoContainer, VideoOutputFormat> = {
  mp4: { container: 'mp4', rotationMetadata: true, audio: true, sampleAspect: true, defaultCrf: 20, crfRange: [0, 51] },
  webm: { container: 'webm', rotationMetadata: false, audio: true, sampleAspect: true, defaultCrf: 32, crfRange: [0, 63] },
  gif: { container: 'gif', rotationMetadata: false, audio: false, sampleAspect: false },
  'png-sequence': { container: 'png-sequence', rotationMetadata: false, audio: false, sampleAspect: false },
};

const SEQUENCE_PATTERN = /%0?\d*d/;

export function videoFormatForPath(file: string): VideoOutputFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.png' && SEQUENCE_PATTERN.test(path.basename(file))) return FORMATS['png-sequence'];
  switch (ext) {
    case '.mp4':
    case '.m4v':
    case '.mov':
      return FORMATS.mp4;
    case '.webm':
      return FORMATS.webm;
    case '.gif':
      return FORMATS.gif;
  }
  throw new AtelierError('E_FORMAT', `Cannot tell the video format of ${JSON.stringify(file)}`, {
    expected: 'an output ending in .mp4, .mov, .m4v, .webm, .gif, or a PNG sequence pattern such as frames/out_%05d.png',
    received: ext === '.png' ? 'a .png name without a frame-number pattern (%05d)' : JSON.stringify(ext || 'no extension'),
  });
}

export function checkCrf(format: VideoOutputFormat, crf: number | undefined): number | undefined {
  if (crf === undefined) return format.defaultCrf;
  if (!format.crfRange) return undefined;
  const [lo, hi] = format.crfRange;
  if (!Number.isInteger(crf) || crf < lo || crf > hi) {
    throw new AtelierError('E_PARAM', `Invalid --crf for ${format.container}`, {
      expected: `an integer in [${lo}, ${hi}] (lower is better quality)`,
      received: String(crf),
    });
  }
  return crf;
}
