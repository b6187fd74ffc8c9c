/// <reference lib="dom" />
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeImage, readImage } from '../../src/core/io.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { studioDir } from '../../src/server/routes/studio.js';
import { discImage, gradientImage, tempDir } from '../helpers/fixtures.js';

/**
 * The studio end to end in Debian's chromium driven by playwright-core: upload two generated
 * images, run a colour method, watch progress and the result, move the compare slider, find the
 * job in the history, ask for metrics. Screenshots (laptop and phone widths) go to
 * scratch/screenshots/ (git-ignored) for a person to look at.
 */

const CHROMIUM = process.env.ATELIER_CHROMIUM ?? '/usr/bin/chromium';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shots = path.join(root, 'scratch', 'screenshots');
const ready = existsSync(CHROMIUM) && studioDir() !== undefined;
if (!ready) {
  console.warn(`studio e2e skipped: ${existsSync(CHROMIUM) ? 'the studio is not built (npm run build)' : `no chromium at ${CHROMIUM} (scripts/system-deps.sh test installs it)`}`);
}

describe.skipIf(!ready)('studio in a browser', () => {
  const tmp = tempDir('atelier-e2e-');
  let app: AtelierServer;
  let browser: BrowserContext;
  let base: string;
  let content: Buffer;
  let style: Buffer;

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    content = await encodeImage(gradientImage(480, 320), 'png');
    style = await encodeImage(discImage(320, 320, 110, [0.95, 0.75, 0.2], [0.15, 0.1, 0.35]), 'png');
    app = await buildServer({ dataDir: tmp.dir, execution: 'inline', concurrency: 1 });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    // A fresh profile directory each run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(tmp.file('chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: [
        ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
  });

  afterAll(async () => {
    delete process.env.ATELIER_JOB_DELAY_MS;
    await browser?.close();
    await app?.close();
    tmp.cleanup();
  });

  it('uploads, runs, shows progress and the result, compares, lists the job', async () => {
    const page = await browser.newPage();
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));
    await page.goto(base);
    await expect.poll(() => page.locator('select[aria-label="method"] option[value="color.reinhard"]').count()).toBe(1);
    await page.selectOption('select[aria-label="method"]', 'color.reinhard');
    // The form is generated from the schema: the Reinhard enum is a select, strength a slider.
    expect(await page.locator('select#param-space option').allTextContents()).toEqual(['lab', 'lalphabeta']);
    expect(await page.locator('input#param-strength').getAttribute('type')).toBe('range');
    // Every slider starts exactly on its parameter's default (log-scale ones included).
    const described = (await app.inject({ url: '/api/methods/color.reinhard' })).json().params.properties as Record<string, { default?: unknown }>;
    const sliders = await page.locator('.params input[type="range"]').evaluateAll((els) =>
      els.map((el) => ({ name: (el as HTMLInputElement).name, value: Number((el as HTMLInputElement).value), log: el.getAttribute('data-scale') === 'log' })),
    );
    expect(sliders.length).toBeGreaterThan(0);
    for (const s of sliders) {
      const want = described[s.name]!.default as number;
      expect(s.log ? 10 ** s.value : s.value, s.name).toBeCloseTo(want, 6);
    }

    await page.setInputFiles('input[name="content"]', { name: 'content.png', mimeType: 'image/png', buffer: content });
    // The style arrives by drag and drop, as a user would bring it from their file manager.
    await page.evaluate((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'style.png', { type: 'image/png' }));
      const zone = document.querySelector('[data-input="style"]')!;
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, style.toString('base64'));
    await expect.poll(() => page.locator('.dropzone.filled').count()).toBe(2);

    // Hold the job long enough to see it in progress.
    process.env.ATELIER_JOB_DELAY_MS = '1500';
    const submitted = page.waitForResponse((r) => r.url().endsWith('/api/jobs') && r.request().method() === 'POST');
    await page.click('button.primary');
    const job = (await (await submitted).json()) as { id: string };
    await page.locator('.progress').waitFor({ state: 'visible' });
    expect(await page.locator('.progress').getAttribute('data-status')).toMatch(/queued|running/);
    await page.screenshot({ path: path.join(shots, 'laptop-progress.png') });

    await page.locator('.compare img.compare-after').waitFor({ state: 'visible', timeout: 20_000 });
    delete process.env.ATELIER_JOB_DELAY_MS;
    expect(await page.locator('.progress').getAttribute('data-status')).toBe('done');
    expect(await page.locator('.progress-pct').textContent()).toBe('100%');
    const natural = await page.locator('.compare img.compare-after').evaluate((img) => (img as HTMLImageElement).naturalWidth);
    expect(natural).toBe(480);

    // Drag the compare slider from the middle to a quarter of the width.
    const clip = () => page.locator('.compare-before').evaluate((el) => (el as HTMLElement).style.clipPath);
    expect(await clip()).toBe('inset(0px 50% 0px 0px)');
    // The form is long enough that Run scrolled the page: bring the slider back into view first.
    await page.locator('.compare').scrollIntoViewIfNeeded();
    const box = (await page.locator('.compare').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    const inset = Number(/inset\(0px ([\d.]+)%/.exec(await clip())?.[1]);
    expect(inset).toBeGreaterThan(70);
    expect(inset).toBeLessThan(80);

    // History lists the job, with its result.
    const item = page.locator(`.history-item[data-job="${job.id}"]`);
    await item.waitFor({ state: 'visible' });
    await item.locator('img').waitFor({ state: 'visible' });
    expect(await item.locator('.history-meta strong').textContent()).toBe('color.reinhard');

    await page.click('button:has-text("Metrics")');
    await page.locator('table.metrics').waitFor({ state: 'visible' });
    expect(await page.locator('table.metrics th').allTextContents()).toEqual(expect.arrayContaining(['PSNR', 'SSIM']));

    await page.screenshot({ path: path.join(shots, 'laptop-result.png'), fullPage: true });

    // Mask painter: paint a stroke and see it turn into a mask the form will send.
    await page.click('text=Paint a mask');
    const canvas = page.locator('canvas[aria-label="mask canvas"]');
    await canvas.waitFor({ state: 'visible' });
    await canvas.scrollIntoViewIfNeeded();
    const c = (await canvas.boundingBox())!;
    await page.mouse.move(c.x + c.width * 0.2, c.y + c.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(c.x + c.width * 0.8, c.y + c.height * 0.5, { steps: 8 });
    await page.mouse.up();
    const painted = await canvas.evaluate((el) => {
      const cv = el as HTMLCanvasElement;
      const d = cv.getContext('2d')!.getImageData(0, Math.floor(cv.height / 2), cv.width, 1).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
      return n / cv.width;
    });
    expect(painted).toBeGreaterThan(0.5);
    await page.screenshot({ path: path.join(shots, 'laptop-mask.png'), fullPage: true });

    // Run with the mask: the stroke's band is styled, the top rows keep the content.
    const masked = page.waitForResponse((r) => r.url().endsWith('/api/jobs') && r.request().method() === 'POST');
    await page.click('button.primary');
    const maskedJob = (await (await masked).json()) as { id: string; inputs: string[] };
    expect(maskedJob.inputs).toContain('mask');
    await expect.poll(async () => (await app.inject({ url: `/api/jobs/${maskedJob.id}` })).json().status, { timeout: 20_000 }).toBe('done');
    const out = await readImage((await app.inject({ url: `/api/jobs/${maskedJob.id}/result` })).rawPayload);
    const src = await readImage(content);
    const rowDiff = (y: number) => {
      let d = 0;
      for (let c = 0; c < 3; c++) for (let x = 0; x < out.width; x++) d += Math.abs(out.plane(c)[y * out.width + x]! - src.plane(c)[y * src.width + x]!);
      return d / (3 * out.width);
    };
    expect(rowDiff(2)).toBeLessThan(0.01);
    expect(rowDiff(Math.floor(out.height / 2))).toBeGreaterThan(0.05);

    const phone = await browser.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(base);
    await phone.locator(`.history-item[data-job="${job.id}"] img`).waitFor({ state: 'visible' });
    await phone.click(`.history-item[data-job="${job.id}"] .thumb`);
    await phone.locator('.compare img.compare-after').waitFor({ state: 'visible' });
    // Nothing sticks out sideways on a phone.
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: path.join(shots, 'phone.png'), fullPage: true });
    expect(failures).toEqual([]);
  });
});
