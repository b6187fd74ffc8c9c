/// <reference lib="dom" />
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTrainedModel } from '../../src/engine/store.js';
import { randomCapVstTensors } from '../../src/engine/nets/capvst/state-dict.js';
import { writeSafetensors } from '../../src/engine/weights/safetensors.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { registerTrainer } from '../../src/train/index.js';
import { tempDir } from '../helpers/fixtures.js';
import { placeholderTrainedModels } from '../helpers/placeholder-trained-models.js';
import { launchStudioBrowser, lowContrastControls, SCREENSHOTS, seriousViolations, studioBrowserReady, STUDIO_BROWSER_SKIP, unreachableByTab } from '../helpers/studio-browser.js';
import { tintTrainer } from '../helpers/tint-trainer.js';
import { multipart } from './helpers.js';

/**
 * The studio's trainer page in Debian's chromium (playwright-core), at 1440×900 and 390×844, with
 * a recipe that trains in milliseconds a step (test/helpers/tint-trainer.ts): choose the recipe,
 * take a style image from the samples, set steps, start; the live loss plot and step count
 * update; a reload re-attaches; cancel says where it stopped and keeps the checkpoint; resume
 * finishes; the model is listed. A CAP-VSTNet model trained here is a choice of neural.capvst's
 * weights in the studio's form. Models made here in the method forms: a StarGAN's model is a
 * select of the installed ones and 'random', its domain a select that follows the chosen model; a
 * CycleGAN with none trained asks for one, one click from the trainer; a LoRA stack offers the
 * adapters made for the network the form holds, each with a weight, removable, with the trainer
 * one click away on that base; what is sent names models, never files. axe-core finds no serious
 * violation; screenshots go to scratch/screenshots/trainer-*.png and trained-*.png.
 */

const shots = SCREENSHOTS;
const options = (page: Page, select: string) => page.locator(`${select} option`).evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
const workspace = (method: string, params: Record<string, unknown> = {}) => `?w=${encodeURIComponent(JSON.stringify({ method, params, inputs: {} }))}`;
const ready = studioBrowserReady;
if (!ready) console.warn(`trainer e2e skipped: ${STUDIO_BROWSER_SKIP}`);

describe.skipIf(!ready)('trainer page and models made here, in a browser', () => {
  const tmp = tempDir('atelier-trainer-e2e-');
  let app: AtelierServer;
  let browser: Browser;
  let base: string;
  const savedHome = process.env.ATELIER_HOME;

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    registerTrainer(tintTrainer);
    process.env.ATELIER_HOME = tmp.file('home');
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

  const stepShown = (page: Page) => page.locator('.training-live .progress-head strong').textContent();

  it('at 1440×900: start, live losses, reload re-attaches, cancel keeps the checkpoint, resume finishes, the model is listed', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));
    await page.goto(base);
    await page.click('button:has-text("Train a model")');
    await page.locator('#trainer-recipe option[value="test-tint"]').waitFor({ state: 'attached' });
    expect(await page.locator('#trainer-recipe option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toContain('capvst');
    // CAP-VSTNet: its base model, its style and photo drop zones, its basic settings first.
    await page.selectOption('#trainer-recipe', 'capvst');
    expect(await page.locator('#trainer-base option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['random', 'installed']);
    expect(await page.locator('input#param-lr').count()).toBe(1);
    expect(await page.locator('[data-input="train-style"]').count()).toBe(1);
    await page.screenshot({ path: path.join(shots, 'trainer-laptop-capvst-form.png') });
    expect(await seriousViolations(page)).toEqual([]);

    await page.selectOption('#trainer-recipe', 'test-tint');
    const start = page.locator('button[data-action="train"]');
    expect(await start.isDisabled()).toBe(true);
    await page.click('.samples[aria-label="sample train-style images"] .sample >> nth=0');
    await expect.poll(() => start.isEnabled()).toBe(true);
    await page.fill('#trainer-model', 'tint-page');
    await page.fill('#trainer-steps', '80');
    await page.fill('#trainer-preview-every', '5');
    await page.click('details.advanced summary');
    await page.fill('input#param-msPerStep', '60');
    await start.click();
    await expect.poll(() => stepShown(page), { timeout: 15_000 }).toMatch(/^Step ([3-9]|\d\d) of 80$/);
    await expect.poll(() => page.locator('.loss-plot polyline').count()).toBe(1);
    await page.screenshot({ path: path.join(shots, 'trainer-laptop-running.png') });
    expect(await seriousViolations(page)).toEqual([]);

    // A reload mid-training comes back to it, plot and all.
    await page.reload();
    await expect.poll(() => stepShown(page), { timeout: 15_000 }).toMatch(/^Step \d+ of 80$/);
    await expect.poll(() => page.locator('.loss-plot polyline').count()).toBe(1);

    await page.click('.training-actions button:has-text("Cancel")');
    await expect.poll(() => page.locator('.outcome.cancelled').count(), { timeout: 15_000 }).toBe(1);
    const resume = page.locator('.training-actions button:has-text("Resume from step")');
    const stoppedAt = Number(/(\d+)/.exec((await resume.textContent())!)![1]);
    expect(stoppedAt).toBeGreaterThan(0);
    expect(stoppedAt).toBeLessThan(80);
    await page.screenshot({ path: path.join(shots, 'trainer-laptop-cancelled.png') });
    expect(await seriousViolations(page)).toEqual([]);
    const jobs = (await app.inject({ url: '/api/jobs' })).json().jobs as { id: string; status: string }[];
    expect(jobs[0]!.status).toBe('cancelled');

    await resume.click();
    await expect.poll(() => stepShown(page), { timeout: 30_000 }).toBe('Done: 80 steps');
    expect(await page.locator('.trained-model').textContent()).toContain('tint-page');
    const done = (await app.inject({ url: `/api/jobs/${jobs[0]!.id}` })).json();
    expect(done).toMatchObject({ status: 'done', attempts: 2, meta: { resumed: true, iterations: 80 } });
    expect((await app.inject({ url: '/api/models' })).json().models.some((m: { name: string; installed: boolean }) => m.name === 'tint-page' && m.installed)).toBe(true);
    expect(await page.locator('.training-list li').count()).toBe(1);
    await page.screenshot({ path: path.join(shots, 'trainer-laptop-done.png') });
    expect(await seriousViolations(page)).toEqual([]);
    expect(failures).toEqual([]);
    await page.close();
  }, 120_000);

  it('every recipe has its form; a fast network trains its first steps from the page and opens in neural.fast', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(e.message));
    await page.goto(`${base}/#train`);
    await page.locator('#trainer-recipe option[value="fast"]').waitFor({ state: 'attached' });
    const offered = await page.locator('#trainer-recipe option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(offered).toEqual(expect.arrayContaining(['capvst', 'fast', 'multistyle-style', 'cyclegan', 'stargan', 'lora']));
    // Each recipe's own drop zones; no field for the name (the model name is the page's own).
    const zones: Record<string, string[]> = { cyclegan: ['a', 'b'], stargan: ['photo', 'look'], 'multistyle-style': ['style', 'contentDir'], fast: ['style', 'contentDir'] };
    for (const [id, want] of Object.entries(zones)) {
      await page.selectOption('#trainer-recipe', id);
      await expect.poll(() => page.locator('[data-input^="train-"]').evaluateAll((es) => es.map((e) => e.getAttribute('data-input')!.slice('train-'.length)))).toEqual(want);
      expect(await page.locator('#param-name, #param-force, #param-domain').count(), id).toBe(0);
      await page.screenshot({ path: path.join(shots, `trainer-laptop-${id}-form.png`) });
    }
    expect(await seriousViolations(page)).toEqual([]);

    // A real fast network: small8 at 32² crops with the seeded loss network (no weights needed), 3 steps.
    await page.selectOption('#trainer-recipe', 'fast');
    // Its base model: nothing installed to start from yet, so a new network, whose width the form asks.
    expect(await page.locator('#trainer-base option').evaluateAll((os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent]))).toEqual([['', 'none: a new network from scratch']]);
    expect(await page.locator('#param-width').count()).toBe(1);
    await page.click('.samples[aria-label="sample train-style images"] .sample >> nth=0');
    const start = page.locator('button[data-action="train"]');
    await expect.poll(() => start.isEnabled()).toBe(true);
    await page.fill('#trainer-model', 'fast-page');
    await page.fill('#trainer-steps', '3');
    await page.fill('#trainer-preview-every', '1');
    await page.locator('input#param-size').evaluate((el) => {
      (el as HTMLInputElement).value = '32';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.click('details.advanced summary');
    await page.fill('input#param-batch', '1');
    // The loss network is chosen by word (the store's, or seeded random), never typed as a path.
    expect(await page.locator('select#param-vgg option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['installed', 'random']);
    await page.selectOption('select#param-vgg', 'random');
    // The loss layers are ticked from the recipe's list (its defaults ticked), not typed.
    const styleLayers = page.locator('fieldset[data-param="styleLayers"] input[type="checkbox"]');
    expect(await styleLayers.evaluateAll((bs) => bs.filter((b) => (b as HTMLInputElement).checked).map((b) => (b as HTMLInputElement).value))).toEqual(['relu1_1', 'relu1_2', 'relu2_1', 'relu2_2', 'relu3_1']);
    await page.locator('fieldset[data-param="styleLayers"] input[value="relu1_2"]').uncheck();
    await start.click();
    await expect.poll(() => stepShown(page), { timeout: 200_000 }).toMatch(/^(Step [1-3] of 3|Done: 3 steps)$/);
    await page.screenshot({ path: path.join(shots, 'trainer-laptop-fast-running.png') });
    await expect.poll(() => stepShown(page), { timeout: 120_000 }).toBe('Done: 3 steps');
    await expect.poll(() => page.locator('.training-preview img').count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator('.trained-model').textContent()).toContain('fast-page');
    await page.screenshot({ path: path.join(shots, 'trainer-laptop-fast-done.png') });
    const job = ((await app.inject({ url: '/api/jobs' })).json().jobs as { id: string; method: string; params: { recipe: Record<string, unknown> } }[]).find((j) => j.method === 'fast')!;
    expect(job.params.recipe).toMatchObject({ size: 32, batch: 1, vgg: 'random', width: 'small8', name: 'fast-page', styleLayers: ['relu1_1', 'relu2_1', 'relu2_2', 'relu3_1'] });
    // It is now a base model for the next fast training; chosen, it fixes the width (the form drops it).
    await expect.poll(() => page.locator('#trainer-base option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['', 'fast-page']);
    await page.selectOption('#trainer-base', 'fast-page');
    expect(await page.locator('#param-width').count()).toBe(0);
    await page.locator('#trainer-base').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(shots, 'trainer-laptop-fast-base.png') });
    expect(await seriousViolations(page)).toEqual([]);
    // The model is neural.fast's, one click away: the model select offers the installed networks only (here, this one).
    await page.click('.trained-model button:has-text("Use it in the studio")');
    await expect.poll(() => page.locator('select#param-model').inputValue()).toBe('fast-page');
    expect(await page.locator('select#param-model option').evaluateAll((os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent]))).toEqual([['fast-page', 'fast-page (trained here)']]);
    await page.screenshot({ path: path.join(shots, 'trainer-laptop-fast-in-studio.png') });

    // A training started from that base (here through the API) shows its base when opened, and no width.
    const style = (await app.inject({ url: '/samples/style-poster.jpg' })).rawPayload;
    const body = await multipart([['trainer', 'fast'], ['model', 'fast-warm'], ['style', { bytes: style, filename: 'poster.jpg', type: 'image/jpeg' }], ['iterations', '50'], ['params', JSON.stringify({ from: 'fast-page', vgg: 'random', size: 32, styleSize: 32, batch: 1, eval: 0 })]]);
    const warm = (await app.inject({ method: 'POST', url: '/api/trainings', payload: body.payload, headers: body.headers })).json() as { id: string };
    await page.goto(`${base}/#train`);
    await page.click('.training-list button:has-text("fast-warm")');
    await expect.poll(() => page.locator('#trainer-base').inputValue()).toBe('fast-page');
    expect(await page.locator('#param-width').count()).toBe(0);
    await app.inject({ method: 'DELETE', url: `/api/jobs/${warm.id}` });
    await expect.poll(async () => (await app.inject({ url: `/api/jobs/${warm.id}` })).json().status, { timeout: 60_000 }).toBe('cancelled');
    expect(failures).toEqual([]);
    await page.close();
  }, 400_000);

  it('a CAP-VSTNet model trained here is a weights choice of neural.capvst in the studio', async () => {
    const file = tmp.file('capvst-photoreal.safetensors');
    await writeSafetensors(file, [...randomCapVstTensors('photoreal', 3).values()]);
    await addTrainedModel('my-photo-look', {
      description: 'CAP-VSTNet trained here',
      network: 'capvst',
      trained: { trainer: 'capvst', iterations: 1, createdAt: new Date().toISOString(), use: { method: 'neural.capvst', param: 'weights', params: { mode: 'photoreal' } } },
      files: [{ path: 'capvst-photoreal.safetensors', from: file }],
    });
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${base}/?w=${encodeURIComponent(JSON.stringify({ method: 'neural.capvst', params: {}, inputs: {} }))}`);
    await page.locator('select#param-weights').waitFor({ state: 'attached' });
    expect(await page.locator('select#param-weights option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['installed', 'random', 'my-photo-look']);
    await page.selectOption('select#param-weights', 'my-photo-look');
    await page.screenshot({ path: path.join(shots, 'trainer-laptop-model-in-studio.png') });
    // The trainer offers it as a base model for further CAP-VSTNet training.
    await page.click('button:has-text("Train a model")');
    await page.locator('#trainer-recipe option[value="capvst"]').waitFor({ state: 'attached' });
    await page.selectOption('#trainer-recipe', 'capvst');
    expect(await page.locator('#trainer-base option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['random', 'installed', 'my-photo-look']);
    await page.close();
  }, 60_000);

  it('at 390×844: the form and a finished training fit a phone', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(`${base}/#train`);
    await page.locator('#trainer-recipe option[value="test-tint"]').waitFor({ state: 'attached' });
    // The training done above is in the list; it opens with its plot.
    await page.click('.training-list button:has-text("tint-page")');
    await expect.poll(() => stepShown(page), { timeout: 10_000 }).toBe('Done: 80 steps');
    await page.screenshot({ path: path.join(shots, 'trainer-phone-done.png'), fullPage: true });
    expect(await seriousViolations(page)).toEqual([]);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
    await page.close();
  }, 60_000);

  /**
   * Models made here as store entries (their files are placeholders: only the random stand-in
   * runs): a StarGAN over photo and look, LoRA adapters for two fast networks, a multistyle style.
   */
  const addMadeHere = async () => {
    const made = await placeholderTrainedModels(tmp.file('placeholder.safetensors'));
    await made('two-looks', 'stargan', { method: 'neural.stargan', param: 'model', params: { domain: 'look' }, choices: { domain: ['photo', 'look'] } });
    await made('candy-ink', 'lora', { method: 'neural.fast', param: 'lora', params: { model: 'fst-pytorch-candy' } });
    await made('candy-soft', 'lora', { method: 'neural.fast', param: 'lora', params: { model: 'fst-pytorch-candy' } });
    await made('mosaic-glow', 'lora', { method: 'neural.fast', param: 'lora', params: { model: 'fst-pytorch-mosaic' } });
    await made('my-ink', 'multistyle', { method: 'neural.multistyle', param: 'added', params: { style: 26 } });
  };

  it('at 1440×900: StarGAN model and domain selects, CycleGAN one click from its trainer, a LoRA stack for the chosen network', async () => {
    await addMadeHere();
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
    const starJob = async () => ((await app.inject({ url: '/api/jobs' })).json().jobs as { method: string; status: string; params: Record<string, unknown> }[]).find((j) => j.method === 'neural.stargan');
    await expect.poll(async () => (await starJob())?.status, { timeout: 60_000 }).toBe('done');
    expect(await starJob()).toMatchObject({ params: { model: 'random', domain: 'c' } });
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
