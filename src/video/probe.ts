import { AtelierError } from '../core/errors.js';
import { runTool } from './ffmpeg.js';

/**
 * What `atelier video` must know of a clip before the first frame: its stored size, rotation,
 * pixel aspect, frame rate and every frame's presentation time (so variable frame rates survive),
 * and its audio track. Also where a clip is refused: not a video, a still image, audio only,
 * no frames, over the configured limits.
 */

export interface VideoProbe {
  file: string;
  /** Size as stored (before rotation is applied on display). */
  width: number;
  height: number;
  /** Display rotation in degrees as ffprobe reports it (0, ±90, 180). */
  rotation: number;
  /** Sample (pixel) aspect ratio, when not square. */
  sampleAspect?: { num: number; den: number };
  /** The stream's base frame rate (r_frame_rate). */
  frameRate: { num: number; den: number };
  /** Presentation time of each frame in seconds, in display order. */
  timestamps: number[];
  duration: number;
  audio?: { codec: string };
  container: string;
}

export interface VideoLimits {
  /** Longest clip accepted, in seconds. */
  maxDuration: number;
  /** Most pixels per frame accepted. */
  maxFramePixels: number;
}

export const DEFAULT_VIDEO_LIMITS: VideoLimits = { maxDuration: 600, maxFramePixels: 3840 * 2160 };

interface ProbeJson {
  streams?: {
    codec_type?: string;
    codec_name?: string;
    width?: number;
    height?: number;
    r_frame_rate?: string;
    sample_aspect_ratio?: string;
    tags?: { rotate?: string };
    side_data_list?: { rotation?: number }[];
    disposition?: { attached_pic?: number };
  }[];
  format?: { format_name?: string; duration?: string };
}

/** Containers ffmpeg reads that hold one still picture (a style image given as the clip, say). */
const STILL_IMAGE_FORMATS = /(^|,)(image2|png_pipe|jpeg_pipe|webp_pipe|bmp_pipe|tiff_pipe|gif_pipe|svg_pipe|pgm_pipe|ppm_pipe|j2k_pipe|qoi_pipe)(,|$)/;

function ratio(s: string | undefined): { num: number; den: number } | undefined {
  const m = /^(\d+)[:/](\d+)$/.exec(s ?? '');
  if (!m) return undefined;
  const num = Number(m[1]);
  const den = Number(m[2]);
  return num > 0 && den > 0 ? { num, den } : undefined;
}

export async function probeVideo(file: string, limits: VideoLimits = DEFAULT_VIDEO_LIMITS): Promise<VideoProbe> {
  const json = JSON.parse(
    await runTool(
      'ffprobe',
      ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height,r_frame_rate,sample_aspect_ratio:stream_tags=rotate:stream_side_data=rotation:stream_disposition=attached_pic:format=format_name,duration', '-of', 'json', file],
      file,
    ),
  ) as ProbeJson;
  const container = json.format?.format_name ?? 'unknown';
  const streams = json.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const audio = streams.find((s) => s.codec_type === 'audio');
  if (!video || !video.width || !video.height) {
    throw new AtelierError('E_IMAGE_DECODE', `${JSON.stringify(file)} has no video stream`, {
      expected: 'a video (e.g. .mp4, .webm, .mov, .mkv)',
      received: audio ? `an audio-only file (${audio.codec_name ?? 'audio'} in ${container})` : `a file ffprobe reads as ${container} without pictures`,
      subject: file,
    });
  }
  if (STILL_IMAGE_FORMATS.test(container)) {
    throw new AtelierError('E_IMAGE_DECODE', `${JSON.stringify(file)} is a still image, not a video`, {
      expected: 'a video (e.g. .mp4, .webm, .mov)',
      received: `a ${video.codec_name ?? 'still'} image`,
      hint: 'to restyle one image, use `atelier transfer`',
      subject: file,
    });
  }
  if (video.width * video.height > limits.maxFramePixels) {
    throw new AtelierError('E_TOO_LARGE', `The frames of ${JSON.stringify(file)} are too large`, {
      expected: `at most ${limits.maxFramePixels.toLocaleString('en')} pixels per frame`,
      received: `${video.width}×${video.height}`,
      hint: 'downscale the clip first (ffmpeg -vf scale=-2:1080) or raise --max-pixels',
      subject: file,
    });
  }
  const timestamps = await frameTimestamps(file);
  if (timestamps.length === 0) {
    throw new AtelierError('E_IMAGE_DECODE', `${JSON.stringify(file)} has no frames`, {
      expected: 'a video with at least one frame',
      received: 'a video stream with zero frames',
      subject: file,
    });
  }
  const frameRate = ratio(video.r_frame_rate) ?? { num: 25, den: 1 };
  const step = frameRate.den / frameRate.num;
  const duration = Math.max(Number(json.format?.duration ?? 0) || 0, timestamps[timestamps.length - 1]! - timestamps[0]! + step);
  if (duration > limits.maxDuration) {
    throw new AtelierError('E_TOO_LARGE', `${JSON.stringify(file)} is too long`, {
      expected: `at most ${limits.maxDuration} s`,
      received: `${duration.toFixed(1)} s`,
      hint: 'cut it first (ffmpeg -t SECONDS) or raise --max-duration',
      subject: file,
    });
  }
  const sar = ratio(video.sample_aspect_ratio);
  const rotationTag = Number(video.tags?.rotate ?? NaN);
  const rotationSide = video.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation;
  const rotation = rotationSide ?? (Number.isFinite(rotationTag) ? -rotationTag : 0);
  return {
    file,
    width: video.width,
    height: video.height,
    rotation: normaliseRotation(rotation),
    ...(sar && sar.num !== sar.den && { sampleAspect: sar }),
    frameRate,
    timestamps,
    duration,
    ...(audio && { audio: { codec: audio.codec_name ?? 'unknown' } }),
    container,
  };
}

/** Degrees in (-180, 180]. */
function normaliseRotation(deg: number): number {
  let r = Math.round(deg) % 360;
  if (r <= -180) r += 360;
  if (r > 180) r -= 360;
  return r;
}

/**
 * Presentation times of the video packets in display order. Packets, not frames: reading them needs
 * no decoding, so a long clip is probed in a moment.
 */
async function frameTimestamps(file: string): Promise<number[]> {
  const csv = await runTool('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file], file);
  const times: number[] = [];
  for (const line of csv.split('\n')) {
    const t = Number(line.split(',')[0]);
    if (line.trim() !== '' && Number.isFinite(t)) times.push(t);
  }
  return times.sort((a, b) => a - b);
}
