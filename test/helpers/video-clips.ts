import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** Whether Debian's ffmpeg is installed (scripts/system-deps.sh installs it for the tests). */
export const HAS_FFMPEG = spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;

export function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

export function ffprobeJson(file: string, entries: string, stream?: string): Record<string, unknown> {
  const r = spawnSync('ffprobe', ['-v', 'error', ...(stream ? ['-select_streams', stream] : []), '-show_entries', entries, '-of', 'json', file], { encoding: 'utf8' });
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Presentation times of the video frames of a file, sorted. */
export function frameTimes(file: string): number[] {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map(Number).sort((a, b) => a - b);
}

/**
 * A small test clip: ffmpeg's moving test pattern (`testsrc2`: shapes that move every frame),
 * `frames` frames at `rate`, optionally with a sine-tone audio track.
 */
export function makeClip(dir: string, name: string, o: { frames: number; width?: number; height?: number; rate?: number; audio?: boolean }): string {
  const file = path.join(dir, name);
  const w = o.width ?? 96;
  const h = o.height ?? 64;
  const rate = o.rate ?? 12;
  ffmpeg([
    '-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=${rate}`,
    ...(o.audio ? ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100'] : []),
    '-frames:v', String(o.frames),
    ...(o.audio ? ['-c:a', 'aac', '-t', String(o.frames / rate)] : []),
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', file,
  ]);
  return file;
}
