/// <reference lib="dom" />
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { tempDir } from '../helpers/fixtures.js';
import { launchStudioBrowser, SCREENSHOTS, seriousViolations, studioBrowserReady, STUDIO_BROWSER_SKIP } from '../helpers/studio-browser.js';

/**
 * The mask painter without a mouse (issue 19: keyboard operation of every control): Tab reaches the
 * picture, the arrow keys move a visible brush, Space puts it down and the moves paint; the job
 * then carries a mask that is white along the painted path and black elsewhere.
 */
if (!studioBrowserReady) console.warn(`studio mask e2e skipped: ${STUDIO_BROWSER_SKIP}`);

describe.skipIf(!studioBrowserReady)('studio: the mask painter by keyboard', () => {
  const tmp = tempDir('atelier-e2e-mask-');
  let app: AtelierServer;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    app = await buildServer({ dataDir: tmp.file('data'), execution: 'inline', concurrency: 1 });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchStudioBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    tmp.cleanup();
  });

  it('at 1440×900: paints a stroke with the arrow keys and Space, and the job gets that mask', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));
    await page.goto(base);
    await page.locator('select[aria-label="method"] option[value="color.reinhard"]').waitFor({ state: 'attached' });
    await page.selectOption('select[aria-label="method"]', 'color.reinhard');
    await page.click('.samples[aria-label="sample content images"] [data-sample="harbour"]');
    await page.click('.samples[aria-label="sample style images"] [data-sample="poster"]');
    await page.click('label.switch:has-text("Paint a mask")');
    const canvas = page.locator('canvas[aria-label^="mask canvas"]');
    await canvas.waitFor();
    await canvas.focus();
    // From the centre: brush down, four long steps right (10 % each), brush up.
    await page.keyboard.press('Space');
    for (let i = 0; i < 4; i++) await page.keyboard.press('Shift+ArrowRight');
    await page.keyboard.press('Space');
    expect(await page.locator('.mask-cursor').count()).toBe(1);
    await page.locator('.mask-painter').screenshot({ path: path.join(SCREENSHOTS, 'mask-keyboard.png') });
    expect(await seriousViolations(page)).toEqual([]);
    const run = page.locator('button[data-action="run"]');
    await expect.poll(() => run.isEnabled()).toBe(true);
    await run.click();
    await page.locator('.viewer-after').waitFor({ timeout: 60_000 });
    const job = (await app.inject({ url: '/api/jobs' })).json().jobs[0];
    expect(job.inputs).toContain('mask');
    const mask = (await app.inject({ url: `/api/jobs/${job.id}/inputs/mask` })).rawPayload;
    const { data, info } = await sharp(mask).greyscale().raw().toBuffer({ resolveWithObject: true });
    const at = (fx: number, fy: number) => data[Math.round(fy * (info.height - 1)) * info.width + Math.round(fx * (info.width - 1))]!;
    // Painted along the middle row from 50 % to 90 %; left half and top untouched.
    expect(at(0.55, 0.5)).toBeGreaterThan(200);
    expect(at(0.85, 0.5)).toBeGreaterThan(200);
    expect(at(0.2, 0.5)).toBeLessThan(50);
    expect(at(0.7, 0.1)).toBeLessThan(50);
    expect(failures).toEqual([]);
    await page.close();
  }, 120_000);
});
