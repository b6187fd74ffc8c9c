import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { writeImage } from '../../src/core/io.js';
import { getMethod } from '../../src/index.js';
import { stylizeVideo, type VideoJob } from '../../src/video/pipeline.js';
import { runCli } from '../helpers/cli.js';
import { ffmpeg, HAS_FFMPEG, makeClip } from '../helpers/video-clips.js';

/**
 * Bad input to `atelier video`: each case is a clear AtelierError with the right code, and the
 * output folder holds afterwards exactly what it held before (no half video, no temporary file, no
 * resume store).
 */

const reinhard = getMethod('color.reinhard');

describe.skipIf(!HAS_FFMPEG)('atelier video: bad input', { timeout: 240_000 }, () => {
  let dir: string;
  let out: string;
  let style: string;
  let clip: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'atelier-video-bad-'));
    out = path.join(dir, 'out');
    mkdirSync(out);
    style = path.join(dir, 'style.png');
    await writeImage(new Image(16, 16, 3, new Float32Array(16 * 16 * 3).fill(0.4)), style);
    clip = makeClip(dir, 'clip.mp4', { frames: 6 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function refused(job: Partial<VideoJob>, code: string, message: RegExp) {
    const before = readdirSync(out);
    const err = await stylizeVideo({ input: clip, output: path.join(out, 'o.mp4'), method: reinhard, style, temporal: 'none', ...job }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'the run should have failed').toBeDefined();
    expect(err).toMatchObject({ name: 'AtelierError', code });
    expect((err as Error).message).toMatch(message);
    expect(readdirSync(out)).toEqual(before);
  }

  it('a file that is not a video', async () => {
    const text = path.join(dir, 'notes.mp4');
    writeFileSync(text, 'these are not frames\n'.repeat(50));
    await refused({ input: text }, 'E_IMAGE_DECODE', /could not read .*notes\.mp4.*expected a video file/);
  });

  it('a still image given as the clip', async () => {
    await refused({ input: style }, 'E_IMAGE_DECODE', /is a still image, not a video.*atelier transfer/);
  });

  it('a zero-frame video: a stream header without frames, and a file without any stream', async () => {
    const y4m = path.join(dir, 'zero.y4m');
    writeFileSync(y4m, 'YUV4MPEG2 W64 H48 F10:1 Ip A1:1 C420jpeg\n');
    await refused({ input: y4m }, 'E_IMAGE_DECODE', /has no frames/);
    const empty = path.join(dir, 'empty.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-frames:v', '0', '-c:v', 'libx264', empty]);
    await refused({ input: empty }, 'E_IMAGE_DECODE', /has no video stream/);
  });

  it('a one-frame video is restyled into a one-frame video (nothing to keep consistent)', async () => {
    const one = makeClip(dir, 'one.mp4', { frames: 1 });
    const r = await stylizeVideo({ input: one, output: path.join(dir, 'one-out.mp4'), method: reinhard, style });
    expect(r.frames).toBe(1);
    expect(r.temporal).toBe('flow');
  });

  it('a truncated stream: cut short with its index up front, and cut before its index', async () => {
    const fast = path.join(dir, 'fast.mp4');
    ffmpeg(['-i', clip, '-c', 'copy', '-movflags', '+faststart', fast]);
    const bytes = readFileSync(fast);
    const cut = path.join(dir, 'cut.mp4');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await refused({ input: cut }, 'E_IMAGE_DECODE', /truncated or corrupt: expected \d+ frames?, received \d+ whole frames.*cut short/);
    const tail = path.join(dir, 'tail.mp4');
    writeFileSync(tail, readFileSync(clip).subarray(0, 2000));
    await refused({ input: tail }, 'E_IMAGE_DECODE', /could not read/);
  });

  it('over the configured limits: duration and pixels per frame', async () => {
    await refused({ limits: { maxDuration: 0.2 } }, 'E_TOO_LARGE', /too long: expected at most 0\.2 s, received 0\.5 s/);
    await refused({ limits: { maxFramePixels: 1000 } }, 'E_TOO_LARGE', /frames .* too large: expected at most 1,000 pixels per frame, received 96×64/);
  });

  it('an audio-only file', async () => {
    const audio = path.join(dir, 'tone.m4a');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '0.5', '-c:a', 'aac', audio]);
    await refused({ input: audio }, 'E_IMAGE_DECODE', /has no video stream.*audio-only file \(aac/);
  });

  it('a style image that is a video', async () => {
    await refused({ style: clip }, 'E_IMAGE_DECODE', /style image is a video.*ffmpeg -i clip\.mp4 -frames:v 1 style\.png/);
  });

  it('an output name whose format is unknown, before any work', async () => {
    await refused({ output: path.join(out, 'o.avi') }, 'E_FORMAT', /expected an output ending in \.mp4/);
    await refused({ output: path.join(out, 'o.png') }, 'E_FORMAT', /without a frame-number pattern/);
  });

  it('missing ffmpeg (PATH without it): E_DEPENDENCY with the install command, exit 1', () => {
    const r = runCli(['video', clip, style, '-m', 'color.reinhard', '-o', path.join(out, 'o.mp4')], { env: { PATH: path.join(dir, 'no-bin') } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/needs the ffprobe program, which is not installed or not on PATH.*apt-get install ffmpeg.*\[E_DEPENDENCY\]/);
    expect(readdirSync(out)).toEqual([]);
  });

  // A tmpfs of 64 KiB stands for a full disk (needs root to mount; skipped otherwise).
  const full = path.join(tmpdir(), `atelier-full-${process.pid}`);
  mkdirSync(full, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]).status === 0;
  afterAll(() => {
    if (mounted) spawnSync('umount', [full]);
    rmSync(full, { recursive: true, force: true });
  });
  it.skipIf(!mounted)('a full disk while writing: E_OUTPUT_WRITE, nothing left on the disk', async () => {
    const big = makeClip(dir, 'big.mp4', { frames: 24, width: 160, height: 120 });
    const err = await stylizeVideo({ input: big, output: path.join(full, 'o.mp4'), method: reinhard, style, temporal: 'none', crf: 0 }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_OUTPUT_WRITE' });
    expect((err as Error).message).toMatch(/disk is full/);
    expect(readdirSync(full)).toEqual([]);
    expect(existsSync(path.join(full, 'o.mp4'))).toBe(false);
  });
});
