import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_VIDEO_LIMITS, probeVideo, type VideoLimits } from '../video/probe.js';

/**
 * An uploaded clip is probed before the job is stored, so a file that is not a video, has no
 * frames, or is over the limits is a 400/413 at once rather than a failed job later. ffprobe needs
 * a file: the bytes go to a private temporary one, removed whatever happens.
 */
export async function checkVideo(bytes: Uint8Array, limits: VideoLimits = DEFAULT_VIDEO_LIMITS): Promise<void> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'atelier-upload-'));
  const file = path.join(dir, `clip-${randomBytes(4).toString('hex')}`);
  try {
    await fs.writeFile(file, bytes, { mode: 0o600 });
    await probeVideo(file, limits);
  } catch (e) {
    // The message names the temporary file; say "the uploaded video" instead.
    if (e instanceof Error) e.message = e.message.split(JSON.stringify(file)).join('the uploaded video');
    throw e;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
