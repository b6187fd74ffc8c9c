/// <reference lib="dom" />
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { tempDir } from '../helpers/fixtures.js';
import { launchStudioBrowser, studioBrowserReady, STUDIO_BROWSER_SKIP } from '../helpers/studio-browser.js';
import { samplePngs } from './helpers.js';

/**
 * Files picked from disk survive a reload before the first Run (issue 19: a workspace that
 * remembers): they are kept in the browser until a job stores them.
 */
if (!studioBrowserReady) console.warn(`studio picked-files e2e skipped: ${STUDIO_BROWSER_SKIP}`);

describe.skipIf(!studioBrowserReady)('studio: picked files survive a reload', () => {
  const tmp = tempDir('atelier-e2e-picked-');
  let app: AtelierServer;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    app = await buildServer({ dataDir: tmp.file('data'), execution: 'inline', concurrency: 1 });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchStudioBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    tmp.cleanup();
  });

  it('a content and a style picked from disk are still there after a reload, and run', async () => {
    const pngs = await samplePngs(80, 60);
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    await page.goto(base);
    await page.locator('select[aria-label="method"] option[value="color.reinhard"]').waitFor({ state: 'attached' });
    await page.selectOption('select[aria-label="method"]', 'color.reinhard');
    await page.setInputFiles('input[name="content"]', { name: 'my-photo.png', mimeType: 'image/png', buffer: pngs.content });
    await page.setInputFiles('input[name="style"]', { name: 'my-style.png', mimeType: 'image/png', buffer: pngs.style });
    const run = page.locator('button[data-action="run"]');
    await expect.poll(() => run.isEnabled()).toBe(true);
    await page.waitForTimeout(300);
    await page.reload();
    await expect.poll(() => page.locator('.dropzone[data-input="content"] small').textContent(), { timeout: 20_000 }).toBe('my-photo.png');
    expect(await page.locator('.dropzone[data-input="style"] small').textContent()).toBe('my-style.png');
    await expect.poll(() => run.isEnabled()).toBe(true);
    await run.click();
    await page.locator('.viewer-after').waitFor({ timeout: 60_000 });
    const job = (await app.inject({ url: '/api/jobs' })).json().jobs[0];
    expect(job.inputs).toEqual(['content', 'style-0']);
    const stored = (await app.inject({ url: `/api/jobs/${job.id}/inputs/content` })).rawPayload;
    expect(Buffer.compare(stored, pngs.content)).toBe(0);
    await context.close();
  }, 120_000);
});
