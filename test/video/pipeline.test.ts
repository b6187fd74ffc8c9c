import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { writeImage } from '../../src/core/io.js';
import { getMethod } from '../../src/index.js';
import { stylizeVideo } from '../../src/video/pipeline.js';
import { ffmpeg, ffprobeJson, frameTimes, HAS_FFMPEG, makeClip } from '../helpers/video-clips.js';

const reinhard = getMethod('color.reinhard');

describe.skipIf(!HAS_FFMPEG)('atelier video pipeline (ffmpeg)', { timeout: 240_000 }, () => {
  let dir: string;
  let style: string;
  let clip: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'atelier-video-'));
    style = path.join(dir, 'style.png');
    const s = new Image(32, 32, 3);
    for (let i = 0; i < 32 * 32; i++) {
      s.data[i] = 0.9;
      s.data[1024 + i] = 0.3 + 0.4 * ((i % 32) / 32);
      s.data[2048 + i] = 0.1;
    }
    await writeImage(s, style);
    clip = makeClip(dir, 'clip.mp4', { frames: 10, rate: 12, audio: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** No temporary file or resume store left in the folder. */
  function strays(): string[] {
    return readdirSync(dir).filter((n) => n.startsWith('.'));
  }

  it('keeps frame count, rate, size and audio; writes nothing but the output', async () => {
    const out = path.join(dir, 'out.mp4');
    const r = await stylizeVideo({ input: clip, output: out, method: reinhard, style, temporal: 'none' });
    expect(r).toMatchObject({ frames: 10, width: 96, height: 64, resumedFrames: 0 });
    const probe = ffprobeJson(out, 'stream=codec_type,codec_name,width,height,r_frame_rate,nb_frames') as { streams: Record<string, unknown>[] };
    expect(probe.streams).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ codec_type: 'video', codec_name: 'h264', width: 96, height: 64, r_frame_rate: '12/1', nb_frames: '10' }),
        expect.objectContaining({ codec_type: 'audio', codec_name: 'aac' }),
      ]),
    );
    expect(strays()).toEqual([]);
  });

  it('the frames are the method applied: the style colours, not the input', async () => {
    const out = path.join(dir, 'seq_%03d.png');
    await stylizeVideo({ input: clip, output: out, method: reinhard, style, temporal: 'none' });
    const frames = readdirSync(dir).filter((n) => /^seq_\d{3}\.png$/.test(n)).sort();
    expect(frames).toHaveLength(10);
    const { data } = await sharp(path.join(dir, frames[3]!)).raw().toBuffer({ resolveWithObject: true });
    let r = 0;
    let b = 0;
    for (let i = 0; i < data.length; i += 3) {
      r += data[i]!;
      b += data[i + 2]!;
    }
    // The style is red-heavy and nearly blue-free; Reinhard moves the frame's means there.
    expect(r / (data.length / 3)).toBeGreaterThan(150);
    expect(b / (data.length / 3)).toBeLessThan(80);
    expect(strays()).toEqual([]);
  });

  it('passes variable frame times through', async () => {
    const a = makeClip(dir, 'a.mp4', { frames: 5, rate: 10 });
    const b = makeClip(dir, 'b.mp4', { frames: 6, rate: 25 });
    const list = path.join(dir, 'list.txt');
    writeFileSync(list, `file '${a}'\nfile '${b}'\n`);
    const vfr = path.join(dir, 'vfr.mp4');
    ffmpeg(['-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', vfr]);
    const out = path.join(dir, 'vfr-out.mp4');
    await stylizeVideo({ input: vfr, output: out, method: reinhard, style, temporal: 'none' });
    const want = frameTimes(vfr);
    const got = frameTimes(out);
    expect(got).toHaveLength(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(0.002);
  });

  it('keeps rotation: as metadata in .mp4, by turning the frames in .webm', async () => {
    const rot = path.join(dir, 'rot.mp4');
    ffmpeg(['-i', clip, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rot]);
    const mp4 = path.join(dir, 'rot-out.mp4');
    const webm = path.join(dir, 'rot-out.webm');
    await stylizeVideo({ input: rot, output: mp4, method: reinhard, style, temporal: 'none' });
    await stylizeVideo({ input: rot, output: webm, method: reinhard, style, temporal: 'none' });
    const m = ffprobeJson(mp4, 'stream=width,height:stream_side_data=rotation', 'v:0') as { streams: { width: number; height: number; side_data_list?: { rotation: number }[] }[] };
    expect(m.streams[0]).toMatchObject({ width: 96, height: 64, side_data_list: [{ rotation: 90 }] });
    const w = ffprobeJson(webm, 'stream=width,height', 'v:0') as { streams: { width: number; height: number }[] };
    expect(w.streams[0]).toMatchObject({ width: 64, height: 96 });
  });

  it('keeps a non-square pixel aspect', async () => {
    const anamorphic = path.join(dir, 'sar.mp4');
    ffmpeg(['-i', clip, '-vf', 'setsar=4/3', '-c:v', 'libx264', anamorphic]);
    const out = path.join(dir, 'sar-out.mp4');
    await stylizeVideo({ input: anamorphic, output: out, method: reinhard, style, temporal: 'none' });
    const p = ffprobeJson(out, 'stream=sample_aspect_ratio', 'v:0') as { streams: { sample_aspect_ratio: string }[] };
    expect(p.streams[0]!.sample_aspect_ratio).toBe('4:3');
  });

  it('a cancelled run keeps its finished frames; --resume continues and gives the uninterrupted result', async () => {
    const full = path.join(dir, 'full_%02d.png');
    await stylizeVideo({ input: clip, output: full, method: reinhard, style, temporal: 'flow', flowSize: 48 });
    const out = path.join(dir, 'part_%02d.png');
    const abort = new AbortController();
    await expect(
      stylizeVideo({
        input: clip, output: out, method: reinhard, style, temporal: 'flow', flowSize: 48, signal: abort.signal,
        onFrame: ({ index }) => { if (index === 3) abort.abort(); },
      }),
    ).rejects.toMatchObject({ code: 'E_ABORTED', message: expect.stringContaining('--resume') });
    expect(readdirSync(dir).filter((n) => n.startsWith('part_'))).toEqual([]);
    // Only the resume store is left (no temporary files).
    expect(strays().filter((n) => n.includes('.tmp'))).toEqual([]);
    expect(strays().filter((n) => n.endsWith('.atelier-video'))).toHaveLength(1);
    // Without --resume the store is not silently thrown away.
    await expect(stylizeVideo({ input: clip, output: out, method: reinhard, style, temporal: 'flow', flowSize: 48 })).rejects.toMatchObject({ code: 'E_OUTPUT_EXISTS' });
    const r = await stylizeVideo({ input: clip, output: out, method: reinhard, style, temporal: 'flow', flowSize: 48, resume: true });
    expect(r.resumedFrames).toBe(4);
    expect(r.frames).toBe(10);
    for (let k = 1; k <= 10; k++) {
      const n = String(k).padStart(2, '0');
      expect(readFileSync(path.join(dir, `part_${n}.png`)).equals(readFileSync(path.join(dir, `full_${n}.png`)))).toBe(true);
    }
    expect(strays()).toEqual([]);
  });

  it('a resume with other settings is refused', async () => {
    const out = path.join(dir, 'other.mp4');
    const abort = new AbortController();
    await expect(
      stylizeVideo({ input: clip, output: out, method: reinhard, style, temporal: 'none', signal: abort.signal, onFrame: ({ index }) => { if (index === 1) abort.abort(); } }),
    ).rejects.toMatchObject({ code: 'E_ABORTED' });
    await expect(stylizeVideo({ input: clip, output: out, method: reinhard, style, temporal: 'blend', resume: true })).rejects.toMatchObject({ code: 'E_PARAM' });
    await stylizeVideo({ input: clip, output: out, method: reinhard, style, temporal: 'none', resume: true });
    expect(existsSync(out)).toBe(true);
    expect(strays()).toEqual([]);
  });
});
