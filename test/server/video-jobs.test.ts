import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { runTask } from '../../src/server/jobs/task.js';
import { ffprobeJson, HAS_FFMPEG, makeClip } from '../helpers/video-clips.js';
import { samplePngs, submit, waitFinished } from './helpers.js';

/**
 * Video jobs over HTTP: a clip uploaded with a style, progress, a preview of the latest frame, an
 * MP4 result; bad clips refused at upload; an interrupted job continues from its saved frames.
 */
describe.skipIf(!HAS_FFMPEG)('server: video jobs', { timeout: 240_000 }, () => {
  let dir: string;
  let app: AtelierServer;
  let clip: Buffer;
  let style: Buffer;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'atelier-video-jobs-'));
    clip = readFileSync(makeClip(dir, 'clip.mp4', { frames: 8, audio: true }));
    style = (await samplePngs()).style;
    app = await buildServer({ dataDir: path.join(dir, 'data'), execution: 'inline', studio: false });
  });
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('upload a clip and a style, get an MP4 with every frame and the audio, and a preview', async () => {
    const res = await submit(app, [
      ['method', 'color.reinhard'],
      ['video', { bytes: clip, filename: 'clip.mp4', type: 'video/mp4' }],
      ['style', { bytes: style }],
    ]);
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json();
    expect(created).toMatchObject({ kind: 'video', inputs: ['video', 'style-0'], links: { preview: `/api/jobs/${created.id}/preview` } });
    const job = await waitFinished(app, created.id, 120_000);
    expect(job, JSON.stringify(job.error)).toMatchObject({ status: 'done', meta: { kind: 'video', frames: 8, resumedFrames: 0, temporal: 'flow' } });
    const result = await app.inject({ url: `/api/jobs/${created.id}/result?download` });
    expect(result.headers['content-type']).toBe('video/mp4');
    expect(result.headers['content-disposition']).toMatch(/attachment; filename="atelier-color\.reinhard-.*\.mp4"/);
    const file = path.join(dir, 'result.mp4');
    writeFileSync(file, result.rawPayload);
    const probe = ffprobeJson(file, 'stream=codec_type,nb_frames') as { streams: { codec_type: string; nb_frames: string }[] };
    expect(probe.streams).toEqual(expect.arrayContaining([{ codec_type: 'video', nb_frames: '8' }, expect.objectContaining({ codec_type: 'audio' })]));
    const preview = await app.inject({ url: `/api/jobs/${created.id}/preview` });
    expect(preview.statusCode).toBe(200);
    expect(preview.headers['content-type']).toBe('image/jpeg');
    expect(preview.rawPayload.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  }, 180_000);

  it('refuses at upload a file that is not a video, and a clip together with a content image', async () => {
    const bad = await submit(app, [['method', 'color.reinhard'], ['video', { bytes: Buffer.from('not a video at all'), type: 'video/mp4' }], ['style', { bytes: style }]]);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ code: 'E_IMAGE_DECODE' });
    expect(bad.json().error.message).toContain('the uploaded video');
    const both = await submit(app, [['method', 'color.reinhard'], ['video', { bytes: clip }], ['content', { bytes: style }], ['style', { bytes: style }]]);
    expect(both.statusCode).toBe(400);
    expect(both.json().error.message).toMatch(/an image or a video, not both/);
  });

  it('an interrupted video task continues from its saved frames when it runs again (as after a restart)', async () => {
    const work = path.join(dir, 'job');
    const long = makeClip(dir, 'long.mp4', { frames: 14 });
    mkdirSync(work);
    copyFileSync(long, path.join(work, 'video'));
    const task = { jobId: 'x', method: 'color.reinhard', params: {}, inputs: { 'style-0': style }, kind: 'video' as const, workDir: work };
    const abort = new AbortController();
    let frames = 0;
    await expect(
      runTask(task, abort.signal, (e) => {
        if (e.type === 'frame' && ++frames === 6) abort.abort();
      }),
    ).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(existsSync(path.join(work, 'video-frames', 'manifest.json'))).toBe(true);
    const again = await runTask(task, new AbortController().signal, () => {});
    expect(again.meta).toMatchObject({ frames: 14, resumedFrames: 6 });
    expect(existsSync(path.join(work, 'video-frames'))).toBe(false);
  }, 180_000);
});
