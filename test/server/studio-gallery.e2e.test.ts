/// <reference lib="dom" />
import { createReadStream, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../../src/core/io.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { tempDir } from '../helpers/fixtures.js';
import { SHARED_WEIGHTS, sharedWeightsPresent, SHARED_WEIGHTS_SKIP } from '../helpers/shared-data.js';
import { launchStudioBrowser, SCREENSHOTS, seriousViolations, studioBrowserReady, STUDIO_BROWSER_SKIP } from '../helpers/studio-browser.js';

/**
 * The style gallery and model variants in the studio, in Debian's chromium, with an empty model
 * store and the server's mirror (../shared/weights, ATELIER_MODEL_MIRROR):
 * - the Styles gallery lists the per-style fast networks; one not installed says so with its
 *   licence and installs from its cell; installed, the server pictures it by running it on the
 *   shipped harbour sample; picking it sets the method (neural.fast) and its model, and it runs;
 * - the form's model is a select of the installed networks, the others one click away, one of
 *   them installed from a slowed HTTP mirror so that its progress shows;
 * - the model manager installs the variant chosen there (White-box Cartoonization fp16, a
 *   non-commercial licence accepted first), and the method's form then uses that variant; choosing
 *   another variant in the form offers to install that one.
 * Screenshots go to scratch/screenshots/gallery-*.png and variants-*.png; axe-core finds no serious violation.
 */

const ready = studioBrowserReady && sharedWeightsPresent;
if (!ready) console.warn(`studio gallery e2e skipped: ${studioBrowserReady ? SHARED_WEIGHTS_SKIP : STUDIO_BROWSER_SKIP}`);

/**
 * The model mirror over HTTP (`ATELIER_MODEL_MIRROR=http://…`, laid out as MODEL/FILE), serving
 * ../shared/weights by file name (FILES.tsv) in 16 slices 120 ms apart: slow enough for the page's
 * install progress to be seen and checked. Nothing is changed in the bytes (the store checks them).
 */
function slowMirror(): Promise<{ server: Server; url: string; requests: string[] }> {
  const byName = new Map<string, string>();
  for (const line of readFileSync(path.join(SHARED_WEIGHTS, 'FILES.tsv'), 'utf8').split('\n').slice(1)) {
    const [set, file] = line.split('\t');
    if (set && file) byName.set(path.basename(file), path.join(SHARED_WEIGHTS, set, file));
  }
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const file = byName.get(decodeURIComponent(path.basename(req.url ?? '')));
    if (!file) return void res.writeHead(404).end();
    const size = statSync(file).size;
    res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' });
    const stream = createReadStream(file, { highWaterMark: Math.ceil(size / 16) });
    stream.on('data', (chunk) => {
      res.write(chunk);
      stream.pause();
      setTimeout(() => stream.resume(), 120);
    });
    stream.on('end', () => res.end());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests })));
}

describe.skipIf(!ready)('studio: style gallery and model variants in a browser', () => {
  const tmp = tempDir('atelier-e2e-gallery-');
  let app: AtelierServer;
  let browser: Browser;
  let base: string;
  const saved = { home: process.env.ATELIER_HOME, mirror: process.env.ATELIER_MODEL_MIRROR };

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    process.env.ATELIER_HOME = tmp.file('home');
    process.env.ATELIER_MODEL_MIRROR = SHARED_WEIGHTS;
    app = await buildServer({ dataDir: tmp.file('data'), execution: 'inline', concurrency: 1 });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchStudioBrowser();
  });

  // Generous: on a loaded machine closing chromium and the server can take a while.
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    for (const [k, v] of [['ATELIER_HOME', saved.home], ['ATELIER_MODEL_MIRROR', saved.mirror]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    tmp.cleanup();
  }, 120_000);

  const run = (page: Page) => page.locator('button[data-action="run"]');
  const open = async (width: number, height: number) => {
    const page = await browser.newPage({ viewport: { width, height } });
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));
    await page.goto(base);
    await page.locator('select[aria-label="method"] option[value="neural.fast"]').waitFor({ state: 'attached' });
    return { page, failures };
  };

  it('at 1440×900: a fast network installs from the gallery, is pictured by itself, and one pick sets method and model', async () => {
    const { page, failures } = await open(1440, 900);
    expect(await page.locator('select[aria-label="method"]').inputValue()).toBe('color.reinhard');
    await page.click('button[aria-controls="style-browser"]');
    const gallery = page.locator('#style-browser [data-gallery="neural.fast"]');
    await gallery.waitFor();
    // Nothing installed: every style says so, with its licence, and offers to install.
    expect(await gallery.locator('.gallery-cell').count()).toBe(19);
    expect(await gallery.locator('.gallery-cell[data-installed="no"]').count()).toBe(19);
    const cell = gallery.locator('.gallery-cell[data-style="fst-small8-candy"]');
    expect(await cell.locator('.gallery-licence').textContent()).toBe('licence unstated');
    expect(await gallery.locator('.gallery-cell[data-style="fst-engstrom-wave"] .gallery-licence').textContent()).toBe('MIT');
    expect(await cell.locator('img').count()).toBe(0);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'gallery-not-installed.png') });
    expect(await seriousViolations(page)).toEqual([]);

    // Installed from its cell: the picture is the network's own output on the harbour sample.
    await cell.locator('.install-actions button').click();
    await cell.locator('img').waitFor({ timeout: 120_000 });
    // The page shows the picture the server rendered (served now from its cache).
    expect(await cell.locator('img').evaluate((img) => [(img as HTMLImageElement).naturalWidth, (img as HTMLImageElement).naturalHeight])).toEqual([320, 240]);
    const picture = await readImage((await app.inject({ url: '/api/methods/neural.fast/styles/fst-small8-candy' })).rawPayload);
    expect([picture.width, picture.height]).toEqual([320, 240]);
    expect(await cell.getAttribute('data-installed')).toBe('yes');
    await cell.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'gallery-installed.png') });

    // One pick: method and model.
    await cell.locator('.gallery-item').click();
    await expect.poll(() => page.locator('select[aria-label="method"]').inputValue()).toBe('neural.fast');
    await expect.poll(() => page.locator('#param-model').inputValue()).toBe('fst-small8-candy');
    expect(await page.locator('#style-browser').count()).toBe(0);
    // The method's own gallery shows the choice; the form needs only the chosen network, installed.
    const inline = page.locator('[data-gallery="neural.fast"]');
    expect(await inline.locator('.gallery-cell[data-style="fst-small8-candy"] .gallery-item').getAttribute('aria-checked')).toBe('true');
    expect(await page.locator('.needs .need').count()).toBe(1);
    await page.locator('.needs [data-need="fst-small8-candy"] .badge.ok').waitFor();
    expect(await inline.locator('.gallery-details').textContent()).toMatch(/fst-small8-candy.*licence: none stated/);
    // The form's model is a select of the INSTALLED networks; the others install from the list beside it, in one click.
    const options = () => page.locator('select#param-model option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(await options()).toEqual(['fst-small8-candy']);
    const more = page.locator('details.install-more[data-param="model"]');
    await more.locator('summary').click();
    expect(await more.locator('li').count()).toBe(18);
    // This one from the server's mirror over HTTP, slowed: the page shows the install's progress.
    const mirror = await slowMirror();
    process.env.ATELIER_MODEL_MIRROR = mirror.url;
    try {
      await more.locator('li[data-model="fst-small8-mosaic"] button:has-text("Install")').click();
      const progress = more.locator('li[data-model="fst-small8-mosaic"] progress[aria-label="installing fst-small8-mosaic"]');
      await progress.waitFor({ timeout: 30_000 });
      // Bytes arrive over about two seconds; the page polls every 400 ms: it shows a fraction on the way.
      await expect.poll(() => progress.evaluate((p) => (p as HTMLProgressElement).value), { timeout: 30_000 }).toBeGreaterThan(0);
      await more.scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(SCREENSHOTS, 'gallery-install-progress.png') });
      await expect.poll(options, { timeout: 120_000 }).toEqual(['fst-small8-candy', 'fst-small8-mosaic']);
      expect(mirror.requests).toEqual(['/fst-small8-mosaic/mosaic_nc8_b1_e2_1e05_1e10.model']);
    } finally {
      process.env.ATELIER_MODEL_MIRROR = SHARED_WEIGHTS;
      mirror.server.close();
    }
    expect(await more.locator('li').count()).toBe(17);
    await more.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'gallery-model-select.png') });
    expect(await seriousViolations(page)).toEqual([]);
    await more.locator('summary').click();

    await page.click('.samples[aria-label="sample content images"] [data-sample="street"]');
    await expect.poll(() => run(page).isEnabled()).toBe(true);
    await run(page).click();
    await page.locator('.viewer-after').waitFor({ timeout: 60_000 });
    const jobs = (await app.inject({ url: '/api/jobs' })).json().jobs as { method: string; params: Record<string, unknown>; status: string }[];
    expect(jobs[0]).toMatchObject({ method: 'neural.fast', status: 'done', params: { model: 'fst-small8-candy' } });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'gallery-result.png') });
    expect(await seriousViolations(page)).toEqual([]);
    expect(failures).toEqual([]);
    await page.close();
  }, 180_000);

  it('at 1440×900: the model manager installs the chosen variant, and the form uses it', async () => {
    const { page, failures } = await open(1440, 900);
    await page.click('button:has-text("Models")');
    const row = page.locator('tr[data-model="whitebox-cartoon"]');
    await row.waitFor();
    const variant = row.locator('select[aria-label="variant of whitebox-cartoon to install"]');
    expect(await variant.locator('option').allTextContents()).toEqual([expect.stringMatching(/^dr \(default\)/), expect.stringMatching(/^int8/), expect.stringMatching(/^fp16/)]);
    // The Size column follows the variant chosen in the row (dr 2 568 838 bytes, fp16 3 057 558).
    const size = row.locator('td.model-size');
    expect(await size.textContent()).toBe('2.4 MiB (dr)');
    await variant.selectOption('fp16');
    expect(await size.textContent()).toBe('2.9 MiB (fp16)');
    const install = row.locator('button:has-text("Install fp16")');
    expect(await install.textContent()).toMatch(/2\.9 MiB/);
    // A non-commercial licence is accepted first.
    expect(await install.isDisabled()).toBe(true);
    await row.locator('label.accept input').check();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'variants-choose.png') });
    expect(await seriousViolations(page)).toEqual([]);
    await install.click();
    await row.locator('.badge.ok:has-text("Installed: fp16")').waitFor({ timeout: 120_000 });
    expect((await app.inject({ url: '/api/models/whitebox-cartoon' })).json().variants.installed).toEqual(['fp16']);
    // Installed, the row offers the other variants beside it, and its Size says what is there and what the next adds.
    expect(await variant.locator('option').count()).toBe(2);
    expect(await size.textContent()).toBe('2.9 MiB installed+2.4 MiB for dr');
    await variant.selectOption('int8');
    expect(await size.textContent()).toBe('2.9 MiB installed+1.7 MiB for int8');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'variants-installed.png') });
    await page.click('.modal button:has-text("Close")');

    // The form takes the installed variant (its default, dr, is not there).
    await page.selectOption('select[aria-label="method"]', 'neural.cartoon');
    await expect.poll(() => page.locator('#param-variant').inputValue()).toBe('fp16');
    await page.locator('.needs [data-need="whitebox-cartoon"] .badge.ok:has-text("fp16")').waitFor();
    await page.click('.samples[aria-label="sample content images"] [data-sample="harbour"]');
    await run(page).click();
    await page.locator('.viewer-after').waitFor({ timeout: 90_000 });
    const [job] = (await app.inject({ url: '/api/jobs' })).json().jobs as { params: Record<string, unknown>; status: string; meta?: Record<string, unknown> }[];
    expect(job).toMatchObject({ status: 'done', params: { variant: 'fp16' } });
    expect(job!.meta?.file).toBe('whitebox_cartoon_gan_fp16.tflite');

    // Another variant in the form: the need offers that one, licence first.
    await page.selectOption('#param-variant', 'int8');
    const need = page.locator('.needs [data-need="whitebox-cartoon"]');
    const add = need.locator('button:has-text("Install int8")');
    await add.waitFor();
    await need.locator('label.accept input').check();
    await add.click();
    await need.locator('.badge.ok:has-text("int8")').waitFor({ timeout: 120_000 });
    expect((await app.inject({ url: '/api/models/whitebox-cartoon' })).json().variants.installed).toEqual(['int8', 'fp16']);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'variants-form.png') });
    expect(await seriousViolations(page)).toEqual([]);
    expect(failures).toEqual([]);
    await page.close();
  }, 240_000);
});
