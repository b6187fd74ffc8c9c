/// <reference lib="dom" />
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { readImage } from '../../src/core/io.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { HeldExecutor } from './held-executor.mjs';
import { InlineExecutor } from '../../src/server/jobs/executor.js';
import { tempDir } from '../helpers/fixtures.js';
import { sharedWeights } from '../helpers/torch-reference.js';
import { launchStudioBrowser, lowContrastControls, SCREENSHOTS, seriousViolations, studioBrowserReady, STUDIO_BROWSER_SKIP, unreachableByTab } from '../helpers/studio-browser.js';

/** Jobs run inline, each held `held.holdMs` first where a test needs one still running (see held-executor.mjs). */
const held = new HeldExecutor(new InlineExecutor());

/**
 * The studio end to end in Debian's chromium driven by playwright-core, at 1440×900 and 390×844,
 * with the shipped sample images: a double click starts one job; a reload mid-job re-attaches to
 * it; the compare slider moves by keyboard in 1 % steps; a failure shows its reason; a history card
 * restores its settings; a model installs from the server's mirror folder (../shared/weights); a
 * batch runs as a grid and downloads as a zip; axe-core finds no serious accessibility violation
 * in any state and borders and switches reach 3:1. At 390×844 a walk through every state (empty,
 * method browser, restored, zoomed, progress, cancelled, compare, failed, models, gallery, batch,
 * loss curve) checks each fits the phone with the Run bar and the stage in view. Screenshots of
 * each state go to scratch/screenshots/ (git-ignored) for a person to look at.
 */

const shots = SCREENSHOTS;
const ready = studioBrowserReady;
if (!ready) console.warn(`studio e2e skipped: ${STUDIO_BROWSER_SKIP}`);
// The server's model mirror: ../shared/weights, found by checksum (ATELIER_MODEL_MIRROR).
const MIRROR = sharedWeights;

async function zipEntries(bytes: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const names: string[] = [];
      zip.on('entry', (e: yauzl.Entry) => {
        names.push(e.fileName);
        zip.readEntry();
      });
      zip.on('end', () => resolve(names));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/** Layout shifts the page made without user input, summed (CLS without session windows). */
const CLS_PROBE = `window.__shifts = 0; new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__shifts += e.value; }).observe({ type: 'layout-shift', buffered: true });`;
const shifts = (page: Page) => page.evaluate(() => (window as unknown as { __shifts: number }).__shifts);

describe.skipIf(!ready)('studio in a browser', () => {
  const tmp = tempDir('atelier-e2e-');
  let app: AtelierServer;
  let browser: Browser;
  let base: string;
  const savedHome = process.env.ATELIER_HOME;

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    // An empty model store: nothing installed until the test installs it.
    process.env.ATELIER_HOME = tmp.file('home');
    if (MIRROR) process.env.ATELIER_MODEL_MIRROR = MIRROR;
    // Uploads up to 4 MiB (samples and masks are far smaller), so the browser's byte check is cheap to show.
    app = await buildServer({ dataDir: tmp.file('data'), executor: held, concurrency: 1, maxUploadBytes: 4 * 1024 * 1024 });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchStudioBrowser();
  });

  afterAll(async () => {
    held.holdMs = 0;
    delete process.env.ATELIER_MODEL_MIRROR;
    if (savedHome === undefined) delete process.env.ATELIER_HOME;
    else process.env.ATELIER_HOME = savedHome;
    await browser?.close();
    await app?.close();
    tmp.cleanup();
  });

  const jobsOnServer = async () => (await app.inject({ url: '/api/jobs?pageSize=100' })).json().jobs as { id: string; status: string; method: string; params: Record<string, unknown> }[];
  const run = (page: Page) => page.locator('button[data-action="run"]');
  const pickSamples = async (page: Page, content: string, style: string) => {
    await page.click(`.samples[aria-label="sample content images"] [data-sample="${content}"]`);
    await page.click(`.samples[aria-label="sample style images"] [data-sample="${style}"]`);
    await expect.poll(() => run(page).isEnabled()).toBe(true);
  };

  it('at 1440×900: one job per double click, reload re-attaches, history restores, failures explain, models install, batches zip', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
    await page.addInitScript(CLS_PROBE);
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));
    await page.goto(base);
    await page.locator('select[aria-label="method"] option[value="color.reinhard"]').waitFor({ state: 'attached' });
    await page.selectOption('select[aria-label="method"]', 'color.reinhard');
    // Basic first, Advanced folded; the presets come from the method's description.
    expect(await page.locator('details.advanced').getAttribute('open')).toBeNull();
    expect(await page.locator('details.advanced input#param-smooth').count()).toBe(1);
    expect(await page.locator('.presets button').allTextContents()).toEqual(['Full transfer', 'Gentle tint', 'Lightness only']);
    // The log-scale slider tells a screen reader its value, not its logarithm.
    await page.click('details.advanced summary');
    expect(await page.locator('input#param-smoothEps').getAttribute('aria-valuetext')).toBe('0.0010');
    await page.click('details.advanced summary');
    await page.screenshot({ path: path.join(shots, 'laptop-empty.png') });
    // The Run bar is on screen (it was below the fold once).
    const runBox = (await run(page).boundingBox())!;
    expect(runBox.y + runBox.height).toBeLessThanOrEqual(900);
    // Borders and switches reach 3:1 against their background (WCAG 1.4.11; axe checks text only).
    expect(await lowContrastControls(page)).toEqual([]);
    // Keyboard focus on an upload box is visible (the real input is transparent over it).
    await page.focus('input[name="content"]');
    expect(await page.locator('[data-input="content"]').evaluate((el) => getComputedStyle(el).outlineStyle)).toBe('solid');
    await page.screenshot({ path: path.join(shots, 'laptop-focus-dropzone.png'), clip: { x: 0, y: 0, width: 420, height: 400 } });
    expect(await seriousViolations(page)).toEqual([]);

    // A file over the server's pixel limit is refused in the browser, before any upload.
    const huge = await page.evaluate(async () => {
      const c = new OffscreenCanvas(8000, 6000);
      c.getContext('2d')!.fillRect(0, 0, 10, 10);
      const b = await c.convertToBlob({ type: 'image/png' });
      return Array.from(new Uint8Array(await b.arrayBuffer()));
    });
    await page.setInputFiles('input[name="content"]', { name: 'huge.png', mimeType: 'image/png', buffer: Buffer.from(huge) });
    await page.locator('#err-content').waitFor();
    expect(await page.locator('#err-content').textContent()).toMatch(/8000×6000 = 48\.0 MP; the server takes at most 40\.0 MP/);
    expect(await run(page).isDisabled()).toBe(true);

    // Not an image, and too many bytes: refused in the browser too, each saying what the server takes.
    await page.setInputFiles('input[name="content"]', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
    await expect.poll(() => page.locator('#err-content').textContent()).toMatch(/notes\.txt is text\/plain; the server takes [A-Z, ]*PNG[A-Z, ]* images/);
    await page.setInputFiles('input[name="content"]', { name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(5 * 1024 * 1024) });
    await expect.poll(() => page.locator('#err-content').textContent()).toMatch(/big\.png is 5\.0 MiB; the server takes at most 4\.0 MiB per file/);
    expect(await run(page).isDisabled()).toBe(true);

    // Double click on Run: one job, and the page follows it.
    await pickSamples(page, 'harbour', 'swirls');
    expect(await page.locator('#err-content').count()).toBe(0);
    // Long enough that the job is still waiting after a reload on a loaded machine.
    held.holdMs = 7_000;
    let posts = 0;
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/jobs')) posts++;
    });
    await run(page).dblclick();
    await page.locator('.progress').waitFor();
    expect(posts).toBe(1);
    const [first] = await jobsOnServer();
    expect((await jobsOnServer()).length).toBe(1);
    expect(await run(page).isDisabled()).toBe(true);
    await page.screenshot({ path: path.join(shots, 'laptop-progress.png') });
    expect(await seriousViolations(page), 'laptop-progress').toEqual([]);

    // Reload while it runs: the page comes back to the same job, method and images.
    // The workspace reaches the address bar a moment after the page changes: wait for it.
    await expect.poll(() => page.url()).toContain(first!.id);
    await page.reload();
    await page.locator('.progress').waitFor();
    await page.screenshot({ path: path.join(shots, 'laptop-reloaded-mid-job.png') });
    expect(await seriousViolations(page), 'laptop-reloaded-mid-job').toEqual([]);
    expect(await page.locator('select[aria-label="method"]').inputValue()).toBe('color.reinhard');
    const shiftedBefore = await shifts(page);
    await page.locator('.viewer-after').waitFor({ timeout: 20_000 });
    held.holdMs = 0;
    // The result took the stage's place: nothing else on the page moved when it arrived.
    await page.waitForTimeout(300);
    expect((await shifts(page)) - shiftedBefore).toBeLessThan(0.01);
    expect((await jobsOnServer()).length).toBe(1);
    expect(await page.locator('.dropzone.filled').count()).toBe(2);
    // The result is in view without scrolling, fitted inside the stage.
    const stage = (await page.locator('.viewer-stage').boundingBox())!;
    const img = (await page.locator('.viewer-after').boundingBox())!;
    expect(stage.y + stage.height).toBeLessThanOrEqual(900);
    expect(img.width).toBeLessThanOrEqual(stage.width + 1);
    expect(img.height).toBeLessThanOrEqual(stage.height + 1);
    // The compare divider moves 1 % per arrow key.
    const divider = page.locator('.viewer-divider');
    await divider.focus();
    for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowLeft');
    expect(await divider.getAttribute('aria-valuenow')).toBe('45');
    // Its keyboard focus is visible.
    expect(await divider.evaluate((el) => el.matches(':focus-visible') && getComputedStyle(el).outlineStyle)).toBe('solid');
    expect(await page.locator('.viewer-before').evaluate((el) => (el as HTMLElement).style.clipPath)).toBe('inset(0px 55% 0px 0px)');
    await page.screenshot({ path: path.join(shots, 'laptop-result.png') });
    // Every control of the page with a result on it is reached by Tab alone.
    expect(await unreachableByTab(page)).toEqual([]);
    expect(await seriousViolations(page), 'laptop-result').toEqual([]);
    // Zoom in twice and pan: the image grows past the stage.
    await page.click('button[aria-label="zoom in"]');
    await page.click('button[aria-label="zoom in"]');
    expect((await page.locator('.viewer-after').boundingBox())!.width).toBeGreaterThan(stage.width);
    await page.click('.viewer-tools button:has-text("Side by side")');
    expect(await page.locator('.viewer-pane').count()).toBe(2);
    await page.screenshot({ path: path.join(shots, 'laptop-side-by-side-zoomed.png') });
    expect(await seriousViolations(page), 'laptop-side-by-side-zoomed').toEqual([]);
    await page.click('.viewer-tools button:has-text("Fit")');
    await page.click('.viewer-tools button:has-text("Slider")');

    // A second run with a preset, then back to the first from the history.
    await page.click('.presets button:has-text("Gentle tint")');
    await run(page).click();
    await expect.poll(async () => (await jobsOnServer()).filter((j) => j.status === 'done').length, { timeout: 20_000 }).toBe(2);
    await page.locator(`.history-item[data-job="${first!.id}"] .thumb img`).waitFor();
    expect(await page.locator('input#param-strength').inputValue()).toBe('0.5');
    await page.click(`.history-item[data-job="${first!.id}"] .thumb`);
    await expect.poll(() => page.locator('input#param-strength').inputValue()).toBe('1');
    await expect.poll(() => page.url()).toContain(first!.id);
    const second = (await jobsOnServer()).find((j) => j.id !== first!.id)!;
    expect(await page.locator(`.history-item[data-job="${second.id}"] .history-params`).textContent()).toBe('strength 0.5');
    // ...with when it ran, how long it took and how it ended.
    expect(await page.locator(`.history-item[data-job="${second.id}"] small:has(time)`).textContent()).toMatch(/^\d\d?:\d\d( [AP]M)? · \d+(\.\d)? m?s · done$/);
    // Compare the two results from their cards.
    await page.click(`.history-item[data-job="${first!.id}"] button:has-text("Compare")`);
    await page.click(`.history-item[data-job="${second.id}"] button:has-text("Compare")`);
    await page.locator('.compare-note').waitFor();
    // Compared from cards far down the page, the whole stage comes back into view, its tools too.
    await expect.poll(async () => (await page.locator('.viewer-tools').boundingBox())!.y).toBeGreaterThanOrEqual(0);
    expect((await page.locator('.stage').boundingBox())!.y + (await page.locator('.stage').boundingBox())!.height).toBeLessThanOrEqual(900);
    await page.screenshot({ path: path.join(shots, 'laptop-compare-history.png') });
    expect(await seriousViolations(page), 'laptop-compare-history').toEqual([]);
    await page.click('.compare-note button');
    // Pin the first (it moves first), delete the second (two clicks): gone from the page and the server.
    await page.click(`.history-item[data-job="${first!.id}"] button[aria-label="pin"]`);
    expect(await page.locator('.history-item').first().getAttribute('data-job')).toBe(first!.id);
    await page.click(`.history-item[data-job="${second.id}"] button[aria-label="delete job"]`);
    await page.click(`.history-item[data-job="${second.id}"] button[aria-label="confirm delete"]`);
    await page.locator(`.history-item[data-job="${second.id}"]`).waitFor({ state: 'detached' });
    expect((await app.inject({ url: `/api/jobs/${second.id}` })).statusCode).toBe(404);

    // Mask painter: a stroke across the middle becomes the job's mask; the top rows keep the content.
    await page.click('text=Paint a mask');
    const canvas = page.locator('canvas[aria-label="mask canvas"]');
    await canvas.waitFor({ state: 'visible' });
    await canvas.scrollIntoViewIfNeeded();
    // Scrolled down to the painter, the Run bar stays at the bottom of the screen.
    const barAfterScroll = (await run(page).boundingBox())!;
    expect(barAfterScroll.y + barAfterScroll.height).toBeLessThanOrEqual(900);
    expect(barAfterScroll.y).toBeGreaterThan(900 - 80);
    const c = (await canvas.boundingBox())!;
    await page.mouse.move(c.x + c.width * 0.1, c.y + c.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(c.x + c.width * 0.9, c.y + c.height * 0.5, { steps: 8 });
    await page.mouse.up();
    const masked = page.waitForResponse((r) => r.url().endsWith('/api/jobs') && r.request().method() === 'POST');
    await run(page).click();
    const maskedJob = (await (await masked).json()) as { id: string; inputs: string[] };
    expect(maskedJob.inputs).toContain('mask');
    await page.locator('.viewer-tools button:has-text("Mask overlay")').click();
    await page.locator('.viewer-mask').waitFor();
    await page.screenshot({ path: path.join(shots, 'laptop-mask-overlay.png') });
    expect(await seriousViolations(page), 'laptop-mask-overlay').toEqual([]);
    const out = await readImage((await app.inject({ url: `/api/jobs/${maskedJob.id}/result` })).rawPayload);
    const src = await readImage((await app.inject({ url: `/api/jobs/${maskedJob.id}/inputs/content` })).rawPayload);
    const rowDiff = (y: number) => {
      let d = 0;
      for (let ch = 0; ch < 3; ch++) for (let x = 0; x < out.width; x++) d += Math.abs(out.plane(ch)[y * out.width + x]! - src.plane(ch)[y * src.width + x]!);
      return d / (3 * out.width);
    };
    expect(rowDiff(2)).toBeLessThan(0.01);
    expect(rowDiff(Math.floor(out.height / 2))).toBeGreaterThan(0.03);
    await page.click('text=Paint a mask');

    // A job that fails says why, on the stage and on its card.
    await page.selectOption('select[aria-label="method"]', 'neural.capvst');
    await page.locator('.needs [data-need="capvstnet_photo_image"]').waitFor();
    expect(await page.locator('.needs .need').count()).toBe(1);
    // Seeded random weights need no model: the form stops asking for one.
    await page.selectOption('select#param-weights', 'random');
    expect(await page.locator('.needs .need').count()).toBe(0);
    await page.selectOption('select#param-weights', 'installed');
    await run(page).click();
    await page.locator('.outcome.failed').waitFor({ timeout: 20_000 });
    expect(await page.locator('.outcome.failed').textContent()).toMatch(/capvstnet_photo_image.*not installed/);
    await page.screenshot({ path: path.join(shots, 'laptop-failed.png') });
    expect(await seriousViolations(page), 'laptop-failed').toEqual([]);
    const failed = (await jobsOnServer()).find((j) => j.status === 'failed')!;
    await expect.poll(() => page.locator(`.history-item[data-job="${failed.id}"] .history-error`).count()).toBe(1);

    // The model manager installs a non-commercial model from the server's mirror once its licence is accepted.
    if (MIRROR) {
      await page.click('button:has-text("Models")');
      const row = page.locator('tr[data-model="animeganv2-hayao"]');
      await row.waitFor();
      expect(await row.textContent()).toContain('non-commercial');
      expect(await seriousViolations(page)).toEqual([]);
      const install = row.locator('button:has-text("Install from mirror")');
      expect(await install.isDisabled()).toBe(true);
      await row.locator('label.accept input').check();
      await install.click();
      await row.locator('.badge.ok').waitFor({ timeout: 30_000 });
      expect((await app.inject({ url: '/api/models/animeganv2-hayao' })).json()).toMatchObject({ installed: true });
      await row.scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(shots, 'laptop-models.png') });
      await page.click('.modal button:has-text("Close")');

      // A method whose model is missing offers it in one click; installed, its styles show as a gallery.
      await page.selectOption('select[aria-label="method"]', 'neural.multistyle');
      const need = page.locator('.needs [data-need="magenta-multistyle"]');
      await need.locator('button:has-text("Install")').click();
      await need.locator('.badge.ok').waitFor({ timeout: 90_000 });
      await expect.poll(() => page.locator('.gallery-item img').count(), { timeout: 60_000 }).toBe(26);
      await page.click('.gallery-cell[data-style="3"] .gallery-item');
      expect(await page.locator('.gallery-cell[data-style="3"] .gallery-item').getAttribute('aria-checked')).toBe('true');
      await page.locator('.gallery').scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(shots, 'laptop-gallery.png') });
      expect(await seriousViolations(page), 'laptop-gallery').toEqual([]);
      await expect.poll(() => page.url()).toContain(encodeURIComponent('"style":3'));
    }

    // A batch: two contents × one style, a grid, one zip.
    await page.selectOption('select[aria-label="method"]', 'color.reinhard');
    await page.click('text=Batch');
    await page.click('button[aria-label="clear contents"]');
    await page.click('button[aria-label="clear styles"]');
    await page.click('.samples[aria-label="sample content images"] [data-sample="still-life"]');
    await page.click('.samples[aria-label="sample content images"] [data-sample="street"]');
    await page.click('.samples[aria-label="sample style images"] [data-sample="mosaic"]');
    await expect.poll(() => run(page).textContent()).toBe('Run 2');
    await run(page).click();
    await expect.poll(() => page.locator('.batch-grid li[data-status="done"] img').count(), { timeout: 30_000 }).toBe(2);
    await page.screenshot({ path: path.join(shots, 'laptop-batch.png') });
    const download = page.waitForEvent('download');
    await page.click('button:has-text("Download zip")');
    const zipPath = await (await download).path();
    const names = await zipEntries(readFileSync(zipPath!));
    expect(names).toHaveLength(2);
    expect(names.every((n) => /^[12]-color\.reinhard-[0-9a-f-]{8}\.png$/.test(n))).toBe(true);
    expect(await seriousViolations(page)).toEqual([]);
    expect(failures).toEqual([]);
    await page.close();
    // Legitimately long: some twenty steps in a browser, a model install and a batch (3 min was short at load 25).
  }, 300_000);

  it('at 390×844: every state fits a phone, with the Run bar on screen, the result in view and nothing sideways', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, acceptDownloads: true });
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));
    /** A state of the walk: its screenshot (what the phone shows, not the whole page), and the checks every state passes. */
    const state = async (name: string) => {
      await page.screenshot({ path: path.join(shots, `phone-${name}.png`) });
      expect(await seriousViolations(page), name).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth), name).toBeLessThanOrEqual(390);
      const bar = (await page.locator('.runbar').boundingBox())!;
      expect(bar.y + bar.height, `${name}: the Run bar is on screen`).toBeLessThanOrEqual(845);
      expect(bar.y, `${name}: the Run bar is on screen`).toBeGreaterThan(844 - bar.height - 2);
    };
    /** The stage (result, progress, outcome) is on screen. */
    const stageInView = async (name: string) => {
      const box = (await page.locator('.stage').boundingBox())!;
      expect(box.y, `${name}: the stage is in view`).toBeGreaterThanOrEqual(-1);
      expect(box.y + box.height, `${name}: the stage is in view`).toBeLessThanOrEqual(844);
    };
    await page.goto(base);
    await page.locator('select[aria-label="method"] option[value="color.reinhard"]').waitFor({ state: 'attached' });
    await page.locator('.history-item').first().waitFor();
    await state('empty');
    expect(await lowContrastControls(page)).toEqual([]);

    // The method picker shows what each method does with a small picture.
    await page.click('button[aria-controls="method-grid"]');
    await page.locator('#method-grid .method-card[data-method="color.reinhard"] img').waitFor();
    expect(await page.locator('#method-grid .method-card img').count()).toBeGreaterThan(10);
    await page.locator('#method-grid').scrollIntoViewIfNeeded();
    await state('method-browser');
    await page.click('#method-grid .method-card[data-method="color.reinhard"]');
    expect(await page.locator('#method-grid').count()).toBe(0);

    // Restore a finished job from its card: settings, inputs and result come back; the Run bar has an estimate.
    const done = (await jobsOnServer()).find((j) => j.status === 'done' && j.method === 'color.reinhard' && Object.keys(j.params).length === 0)!;
    await page.locator(`.history-item[data-job="${done.id}"] img`).waitFor();
    await page.click(`.history-item[data-job="${done.id}"] .thumb`);
    await page.locator('.viewer-after').waitFor();
    await expect.poll(() => page.locator('input#param-strength').inputValue()).toBe('1');
    await expect.poll(() => page.locator('.runbar-info small').textContent()).toMatch(/^about \d+ s \(from \d+ earlier runs?\)$/);
    await stageInView('restored');
    await state('restored');

    // The viewer on a phone: result only, zoomed in, panned by keyboard, back to fit.
    await page.click('.viewer-tools button:has-text("Result only")');
    expect(await page.locator('.viewer-before').count()).toBe(0);
    await page.click('button[aria-label="zoom in"]');
    await page.click('button[aria-label="zoom in"]');
    const stageBox = (await page.locator('.viewer-stage').boundingBox())!;
    const zoomedBox = (await page.locator('.viewer-after').boundingBox())!;
    expect(zoomedBox.width).toBeGreaterThan(stageBox.width);
    await page.focus('.viewer-stage');
    await page.keyboard.press('ArrowLeft');
    const panned = (await page.locator('.viewer-after').boundingBox())!;
    expect(panned.x - zoomedBox.x).toBeCloseTo(30, 0);
    await state('result-zoomed');
    await page.click('.viewer-tools button:has-text("Fit")');
    await page.click('.viewer-tools button:has-text("Slider")');

    // Run from the keyboard (Ctrl+Enter): the stage scrolls into view with the progress over the content.
    held.holdMs = 1_500;
    await page.click('.presets button:has-text("Full transfer")');
    await page.locator('.history-panel').scrollIntoViewIfNeeded();
    await page.keyboard.press('Control+Enter');
    await page.locator('.progress').waitFor();
    await stageInView('progress');
    await state('progress');
    await page.locator('.viewer-after').waitFor({ timeout: 20_000 });
    await stageInView('result');
    await state('result');

    // A running job's card cancels it: the stage says Cancelled.
    held.holdMs = 20_000;
    await run(page).click();
    const live = page.locator('.history-item[data-status="queued"], .history-item[data-status="running"]');
    await live.first().waitFor();
    await live.first().scrollIntoViewIfNeeded();
    await state('running-card');
    await live.first().locator('button:has-text("Cancel")').click();
    await page.locator('.outcome.cancelled').waitFor({ timeout: 20_000 });
    held.holdMs = 0;
    await page.locator('.stage').scrollIntoViewIfNeeded();
    await stageInView('cancelled');
    await state('cancelled');
    await expect.poll(async () => (await jobsOnServer()).filter((j) => j.status === 'cancelled').length).toBe(1);
    // ...and so does the Run bar's Cancel.
    held.holdMs = 20_000;
    await run(page).click();
    await page.locator('.runbar button:has-text("Cancel")').click();
    await expect.poll(async () => (await jobsOnServer()).filter((j) => j.status === 'cancelled').length, { timeout: 20_000 }).toBe(2);
    await page.locator('.outcome.cancelled').waitFor();
    held.holdMs = 0;

    // Two cards compared.
    const finished = (await jobsOnServer()).filter((j) => j.status === 'done' && j.method === 'color.reinhard').slice(0, 2);
    for (const j of finished) await page.click(`.history-item[data-job="${j.id}"] button:has-text("Compare")`);
    await page.locator('.compare-note').waitFor();
    await page.locator('.stage').scrollIntoViewIfNeeded();
    await state('compare');
    await page.click('.compare-note button');

    // A failure says why, on the stage.
    await page.selectOption('select[aria-label="method"]', 'neural.capvst');
    await run(page).click();
    await page.locator('.outcome.failed').waitFor({ timeout: 20_000 });
    await stageInView('failed');
    await state('failed');
    // Its form says what the settings need, and that this server cannot fetch it (no checksum for the mirror).
    await page.locator('.needs').scrollIntoViewIfNeeded();
    if (MIRROR) expect(await page.locator('.needs [data-need="capvstnet_photo_image"] .not-downloadable').textContent()).toMatch(/no checksum/);
    await state('failed-needs');

    // The model manager fits: rows stack, each with its licence, size and install.
    await page.click('button:has-text("Models")');
    await page.locator('tr[data-model="whitebox-cartoon"]').waitFor();
    await state('models');
    await page.click('.modal button:has-text("Close")');

    // The multi-style gallery (installed above from the mirror) on a phone.
    if (MIRROR) {
      await page.selectOption('select[aria-label="method"]', 'neural.multistyle');
      await expect.poll(() => page.locator('.gallery-item img').count(), { timeout: 60_000 }).toBe(26);
      await page.locator('.gallery').scrollIntoViewIfNeeded();
      await state('gallery');
    }

    // A batch of two on a phone: the grid replaces the result.
    await page.selectOption('select[aria-label="method"]', 'color.reinhard');
    await page.click('text=Batch');
    await page.click('button[aria-label="clear contents"]');
    await page.click('.samples[aria-label="sample content images"] [data-sample="still-life"]');
    await page.click('.samples[aria-label="sample content images"] [data-sample="street"]');
    await expect.poll(() => run(page).textContent()).toBe('Run 2');
    // Two contents against one style, with two methods: four jobs.
    await page.locator('.batch-methods label:has-text("Exact histogram matching") input').check();
    await expect.poll(() => run(page).textContent()).toBe('Run 4');
    await run(page).click();
    await expect.poll(() => page.locator('.batch-grid li[data-status="done"] img').count(), { timeout: 30_000 }).toBe(4);
    await page.locator('.stage').scrollIntoViewIfNeeded();
    await state('batch');
    await page.click('text=Batch');

    // An optimisation method: step counts, time left and its loss curve while it runs. The
    // workspace comes from the URL: Gatys with seeded random weights (no download), small and short.
    const w = { method: 'neural.gatys', params: { weights: 'random', size: 48, iterations: 60, pyramid: 1, optimizer: 'adam' }, inputs: { content: [{ sample: 'street', url: '/samples/content-street.jpg' }], style: [{ sample: 'poster', url: '/samples/style-poster.jpg' }] } };
    await page.goto(`${base}/?w=${encodeURIComponent(JSON.stringify(w))}`);
    await expect.poll(() => run(page).isEnabled(), { timeout: 20_000 }).toBe(true);
    await run(page).click();
    await page.locator('.loss svg polyline').waitFor({ timeout: 30_000 });
    expect(await page.locator('.progress-facts').textContent()).toMatch(/step \d+ of 60/);
    await expect.poll(() => page.locator('.progress-facts').textContent(), { timeout: 30_000 }).toMatch(/about \d+ s left/);
    await stageInView('loss-curve');
    await state('loss-curve');
    await page.locator('.viewer-after').waitFor({ timeout: 60_000 });
    expect(failures).toEqual([]);
    await page.close();
  }, 300_000);
});
