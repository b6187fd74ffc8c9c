/// <reference lib="dom" />
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { tempDir } from '../helpers/fixtures.js';
import { launchStudioBrowser, SCREENSHOTS, seriousViolations, studioBrowserReady, STUDIO_BROWSER_SKIP } from '../helpers/studio-browser.js';
import { ffprobeJson, HAS_FFMPEG, makeClip } from '../helpers/video-clips.js';

/**
 * Video in the studio, in Debian's chromium at 1440×900 and 390×844: a file that is not a clip is
 * refused in the browser; a clip uploaded with a shipped style sample runs as a video job whose
 * progress shows frame counts and the latest finished frame; the result plays in a <video> player
 * (the page's CSP lets it play the fetched MP4) and downloads as an MP4 with every frame; its
 * history card shows its last frame; on a phone a reload brings the player back. axe-core finds no
 * serious violation in these states. Screenshots go to scratch/screenshots/video-*.png.
 */

const ready = studioBrowserReady && HAS_FFMPEG;
if (!ready) console.warn(`studio video e2e skipped: ${HAS_FFMPEG ? STUDIO_BROWSER_SKIP : 'no ffmpeg (scripts/system-deps.sh test installs it)'}`);

describe.skipIf(!ready)('studio: video jobs in a browser', () => {
  const tmp = tempDir('atelier-e2e-video-');
  let app: AtelierServer;
  let browser: Browser;
  let base: string;
  let clip: string;
  let jobId: string;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    // Patch synthesis on 12 frames of 256×192 takes about 4 s on a quiet 2-core machine: several of
    // the stage's once-a-second preview fetches. At 128×96 it took 1 s there, and the job could end
    // before the first fetch found a frame, so the preview was never shown.
    clip = makeClip(tmp.dir, 'clip.mp4', { frames: 12, width: 256, height: 192, audio: true });
    app = await buildServer({ dataDir: tmp.file('data'), execution: 'inline', concurrency: 1 });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchStudioBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    tmp.cleanup();
  });

  const run = (page: Page) => page.locator('button[data-action="run"]');

  it('at 1440×900: a clip runs with progress and a live frame, plays in the page and downloads as an MP4', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));
    await page.goto(base);
    await page.locator('select[aria-label="method"] option[value="patch.synthesis"]').waitFor({ state: 'attached' });
    await page.selectOption('select[aria-label="method"]', 'patch.synthesis');
    await page.click('label.switch:has-text("Video")');
    expect(await page.locator('label.switch:has-text("Video") input').isChecked()).toBe(true);
    // Batch is for images: it is off and cannot be turned on while Video is.
    expect(await page.locator('label.switch:has-text("Batch") input').isDisabled()).toBe(true);

    // Not a clip: refused here, before any upload, and Run stays off.
    await page.setInputFiles('input[name="video"]', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a video') });
    await expect.poll(() => page.locator('#err-video').textContent()).toMatch(/notes\.txt is text\/plain, not a video/);
    await page.click('.samples[aria-label="sample style images"] [data-sample="poster"]');
    expect(await run(page).isDisabled()).toBe(true);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'video-refused.png') });

    await page.setInputFiles('input[name="video"]', clip);
    await expect.poll(() => run(page).isEnabled()).toBe(true);
    expect(await page.locator('#err-video').count()).toBe(0);
    expect(await page.locator('.dropzone[data-input="video"] video').count()).toBe(1);
    await run(page).click();

    // While it runs: frame counts in the progress, and the latest finished frame on the stage.
    await page.locator('.progress').waitFor();
    await expect.poll(() => page.locator('.progress-facts').textContent(), { timeout: 60_000 }).toMatch(/frame \d+ of 12/);
    await page.locator('img.stage-frame').waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'video-progress.png') });
    expect(await seriousViolations(page)).toEqual([]);

    // Done: the player, loaded from the fetched MP4 (a CSP without media-src blob: would block it).
    const player = page.locator('.video-result video');
    await player.waitFor({ timeout: 120_000 });
    await expect.poll(() => player.evaluate((v: HTMLVideoElement) => v.readyState), { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    const shown = await player.evaluate((v: HTMLVideoElement) => ({ duration: v.duration, width: v.videoWidth, height: v.videoHeight, error: v.error?.code ?? null }));
    expect(shown).toMatchObject({ width: 256, height: 192, error: null });
    expect(shown.duration).toBeGreaterThan(0.9);
    await player.evaluate((v: HTMLVideoElement) => {
      v.currentTime = 0.6;
    });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'video-result.png') });
    expect(await page.locator('.video-facts').textContent()).toMatch(/12 frames · 256×192 · temporal flow/);

    const download = page.waitForEvent('download');
    await page.click('button:has-text("Download MP4")');
    const saved = await download;
    expect(saved.suggestedFilename()).toMatch(/^atelier-patch\.synthesis-[0-9a-f-]{8}\.mp4$/);
    const file = (await saved.path())!;
    expect(readFileSync(file).subarray(4, 8).toString()).toBe('ftyp');
    const probe = ffprobeJson(file, 'stream=codec_type,nb_frames') as { streams: { codec_type: string; nb_frames: string }[] };
    expect(probe.streams).toEqual(expect.arrayContaining([{ codec_type: 'video', nb_frames: '12' }, expect.objectContaining({ codec_type: 'audio' })]));

    // The history card shows the video's last frame, and offers no image comparison.
    jobId = (await app.inject({ url: '/api/jobs' })).json().jobs[0].id;
    const card = page.locator(`.history-item[data-job="${jobId}"]`);
    await card.locator('.thumb img').waitFor();
    expect(await card.locator('button:has-text("Compare")').count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    expect(failures).toEqual([]);
    await page.close();
  }, 240_000);

  it('at 390×844: a reload brings the player back, with the Run bar on screen and nothing sideways', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));
    const w = { method: 'patch.synthesis', params: {}, inputs: { video: [{ job: jobId, slot: 'video' }], style: [{ job: jobId, slot: 'style-0' }] }, job: jobId };
    await page.goto(`${base}/?w=${encodeURIComponent(JSON.stringify(w))}`);
    await page.locator('.video-result video').waitFor({ timeout: 20_000 });
    expect(await page.locator('label.switch:has-text("Video") input').isChecked()).toBe(true);
    await expect.poll(() => run(page).isEnabled(), { timeout: 20_000 }).toBe(true);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'video-phone-result.png') });
    const bar = (await run(page).boundingBox())!;
    expect(bar.y + bar.height).toBeLessThanOrEqual(844);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'video-phone-full.png'), fullPage: true });
    expect(await seriousViolations(page)).toEqual([]);
    expect(failures).toEqual([]);
    await page.close();
  }, 120_000);
});
