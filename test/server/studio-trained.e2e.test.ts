/// <reference lib="dom" />
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTrainedModel } from '../../src/engine/store.js';
import { writeSafetensors } from '../../src/engine/weights/safetensors.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { tempDir } from '../helpers/fixtures.js';
import { launchStudioBrowser, lowContrastControls, SCREENSHOTS, seriousViolations, studioBrowserReady, STUDIO_BROWSER_SKIP, unreachableByTab } from '../helpers/studio-browser.js';

/**
 * Models made here in the studio's method forms (Debian's chromium, 1440×900 and 390×844): a
 * StarGAN's model is a select of the installed ones and 'random', its domain a select that follows
 * the chosen model; a CycleGAN with none trained asks for one, one click from the trainer; a LoRA
 * stack offers the adapters made for the network the form holds, each with a weight, removable, and
 * the trainer one click away with that base. What is sent names models, never files. The models
 * are store entries (their files are placeholders: only the random stand-in runs here).
 * Screenshots: scratch/screenshots/trained-*.png.
 */

const shots = SCREENSHOTS;
const ready = studioBrowserReady;
if (!ready) console.warn(`trained-model e2e skipped: ${STUDIO_BROWSER_SKIP}`);

const options = (page: Page, select: string) => page.locator(`${select} option`).evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
const workspace = (method: string, params: Record<string, unknown> = {}) => `?w=${encodeURIComponent(JSON.stringify({ method, params, inputs: {} }))}`;

describe.skipIf(!ready)('models made here in the studio forms', () => {
  const tmp = tempDir('atelier-trained-e2e-');
  let app: AtelierServer;
  let browser: Browser;
  let base: string;
  const savedHome = process.env.ATELIER_HOME;

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    process.env.ATELIER_HOME = tmp.file('home');
    const file = tmp.file('placeholder.safetensors');
    await writeSafetensors(file, [{ name: 'w', shape: [1], data: new Float32Array([0]) }]);
    const made = (name: string, network: string, use: { method: string; param: string; params?: Record<string, unknown>; choices?: Record<string, string[]> }) =>
      addTrainedModel(name, { description: `${network} made here`, network, trained: { trainer: network, iterations: 1, createdAt: new Date().toISOString(), use }, files: [{ path: `${name}.safetensors`, from: file }] });
    await made('two-looks', 'stargan', { method: 'neural.stargan', param: 'model', params: { domain: 'look' }, choices: { domain: ['photo', 'look'] } });
    await made('candy-ink', 'lora', { method: 'neural.fast', param: 'lora', params: { model: 'fst-pytorch-candy' } });
    await made('candy-soft', 'lora', { method: 'neural.fast', param: 'lora', params: { model: 'fst-pytorch-candy' } });
    await made('mosaic-glow', 'lora', { method: 'neural.fast', param: 'lora', params: { model: 'fst-pytorch-mosaic' } });
    await made('my-ink', 'multistyle', { method: 'neural.multistyle', param: 'added', params: { style: 26 } });
    app = await buildServer({ dataDir: tmp.file('data'), execution: 'inline', concurrency: 1 });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchStudioBrowser();
  });

  afterAll(async () => {
    if (savedHome === undefined) delete process.env.ATELIER_HOME;
    else process.env.ATELIER_HOME = savedHome;
    await browser?.close();
    await app?.close();
    tmp.cleanup();
  });

  it('at 1440×900: StarGAN model and domain selects, CycleGAN one click from its trainer, a LoRA stack for the chosen network', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));

    // StarGAN: the installed model is chosen, its domains offered, its own default domain taken.
    await page.goto(base + workspace('neural.stargan'));
    await expect.poll(() => page.locator('select#param-model').inputValue()).toBe('two-looks');
    expect(await options(page, 'select#param-model')).toEqual(['two-looks', 'random']);
    expect(await options(page, 'select#param-domain')).toEqual(['photo', 'look']);
    expect(await page.locator('select#param-domain').inputValue()).toBe('look');
    expect(await page.locator('.trained-note[data-param="model"]').textContent()).toContain('1 trained on this server');
    await page.screenshot({ path: path.join(shots, 'trained-laptop-stargan.png') });
    expect(await seriousViolations(page)).toEqual([]);
    // The stand-in has its own domains; back on the model, the domain follows again.
    await page.selectOption('select#param-model', 'random');
    expect(await options(page, 'select#param-domain')).toEqual(['a', 'b', 'c']);
    expect(await page.locator('select#param-domain').inputValue()).toBe('a');
    await page.selectOption('select#param-domain', 'c');
    // What runs is what the selects say: names only.
    await page.click('.samples[aria-label="sample content images"] [data-sample="still-life"]');
    const run = page.locator('button[data-action="run"]');
    await expect.poll(() => run.isEnabled()).toBe(true);
    await run.click();
    await expect.poll(async () => ((await app.inject({ url: '/api/jobs' })).json().jobs as { status: string }[])[0]?.status, { timeout: 60_000 }).toBe('done');
    const job = ((await app.inject({ url: '/api/jobs' })).json().jobs as { method: string; params: Record<string, unknown> }[])[0]!;
    expect(job).toMatchObject({ method: 'neural.stargan', params: { model: 'random', domain: 'c' } });
    await page.selectOption('select#param-model', 'two-looks');
    expect(await page.locator('select#param-domain').inputValue()).toBe('look');

    // CycleGAN with none trained: nothing chosen, the Run bar says what is missing, the trainer is one click away.
    await page.goto(base + workspace('neural.cyclegan'));
    await expect.poll(() => options(page, 'select#param-model')).toEqual(['', 'random']);
    expect(await page.locator('select#param-model option[value=""]').textContent()).toBe('none trained yet: choose one');
    await expect.poll(() => page.locator('.runbar-info small').textContent()).toContain('a model');
    expect(await run.isDisabled()).toBe(true);
    await page.screenshot({ path: path.join(shots, 'trained-laptop-cyclegan-none.png') });
    expect(await seriousViolations(page)).toEqual([]);
    await page.click('.trained-note[data-param="model"] button:has-text("Train one")');
    await expect.poll(() => page.locator('#trainer-recipe').inputValue()).toBe('cyclegan');
    expect(page.url()).toContain('#train');
    await page.screenshot({ path: path.join(shots, 'trained-laptop-cyclegan-trainer.png') });

    // neural.fast on candy: its two adapters are offered, the mosaic one is named with its base.
    await page.goto(base + workspace('neural.fast', { model: 'fst-pytorch-candy', weights: 'random' }));
    const stack = page.locator('fieldset.lora-stack[data-param="lora"]');
    await expect.poll(() => options(page, 'select#param-lora')).toEqual(['candy-ink', 'candy-soft']);
    expect(await stack.textContent()).toContain('1 more made for other networks (mosaic-glow: fst-pytorch-mosaic)');
    await stack.locator('button:has-text("Add")').click();
    await page.locator('input[aria-label="weight of candy-ink"]').fill('0.5');
    expect(await options(page, 'select#param-lora')).toEqual(['candy-soft']);
    await stack.locator('button:has-text("Add")').click();
    expect(await stack.locator('.lora-list li').evaluateAll((ls) => ls.map((l) => l.getAttribute('data-adapter')))).toEqual(['candy-ink', 'candy-soft']);
    // Every adapter installed is in the stack: nothing left to add.
    expect(await page.locator('select#param-lora').count()).toBe(0);
    await page.screenshot({ path: path.join(shots, 'trained-laptop-lora-stack.png') });
    expect(await seriousViolations(page)).toEqual([]);
    // Weights, Remove and the trainer link: reached by Tab, bordered at 3:1.
    expect(await unreachableByTab(page)).toEqual([]);
    expect(await lowContrastControls(page)).toEqual([]);
    // Kept in the workspace (URL and local storage) as NAME:WEIGHT.
    await expect.poll(() => decodeURIComponent(page.url())).toContain('"lora":["candy-ink:0.5","candy-soft"]');
    await stack.locator('button[aria-label="remove candy-ink"]').click();
    await expect.poll(() => decodeURIComponent(page.url())).toContain('"lora":["candy-soft"]');
    // Another network: the candy adapter left in the stack says what it was made for; mosaic's is offered.
    // (No network is installed here, so the model select offers none: the workspace sets it, as a restored card would.)
    await page.goto(base + workspace('neural.fast', { model: 'fst-pytorch-mosaic', weights: 'random', lora: ['candy-soft'] }));
    await expect.poll(() => options(page, 'select#param-lora')).toEqual(['mosaic-glow']);
    expect(await stack.locator('li[data-adapter="candy-soft"] .lora-problem').textContent()).toContain('made for fst-pytorch-candy');
    // The trainer opens on the LoRA recipe with this network as its base.
    await stack.locator('button.train-link').click();
    await expect.poll(() => page.locator('#trainer-recipe').inputValue()).toBe('lora');
    await expect.poll(() => page.locator('select#param-base').inputValue()).toBe('fst-pytorch-mosaic');

    // Styles added to the 26-style network: a list of names, without weights.
    await page.goto(base + workspace('neural.multistyle', { weights: 'random' }));
    const added = page.locator('fieldset.lora-stack[data-param="added"]');
    await expect.poll(() => options(page, 'select#param-added')).toEqual(['my-ink']);
    await added.locator('button:has-text("Add")').click();
    await expect.poll(() => decodeURIComponent(page.url())).toContain('"added":["my-ink"]');
    expect(await added.locator('input[type="number"]').count()).toBe(0);
    expect(await added.textContent()).toContain('they become styles 26, 27');
    expect(failures).toEqual([]);
    await page.close();
  }, 120_000);

  it('at 390×844: the StarGAN selects and a LoRA stack fit a phone', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(base + workspace('neural.fast', { model: 'fst-pytorch-candy', weights: 'random', lora: ['candy-ink:0.75', 'candy-soft'] }));
    const stack = page.locator('fieldset.lora-stack[data-param="lora"]');
    await expect.poll(() => stack.locator('.lora-list li').count()).toBe(2);
    expect(await page.locator('input[aria-label="weight of candy-ink"]').inputValue()).toBe('0.75');
    await stack.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(shots, 'trained-phone-lora-stack.png') });
    expect(await seriousViolations(page)).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    // Each row's controls inside the panel.
    const panel = (await page.locator('section[aria-labelledby="h-method"]').boundingBox())!;
    for (const box of await stack.locator('.lora-list li button, .lora-list li input').evaluateAll((es) => es.map((e) => e.getBoundingClientRect().right))) expect(box).toBeLessThanOrEqual(panel.x + panel.width);

    await page.goto(base + workspace('neural.stargan'));
    await expect.poll(() => page.locator('select#param-domain').inputValue()).toBe('look');
    await page.locator('select#param-domain').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(shots, 'trained-phone-stargan.png') });
    expect(await seriousViolations(page)).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.close();
  }, 60_000);
});
