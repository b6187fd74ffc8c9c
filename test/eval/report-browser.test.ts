import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReport } from '../../src/eval/report-html.js';
import { runEvaluation } from '../../src/eval/run-evaluation.js';
import { methods } from '../../src/methods/index.js';
import { HAS_FFMPEG, writeEvalFixtures } from '../helpers/eval-fixtures.js';
import { tempDir } from '../helpers/fixtures.js';

/**
 * The HTML report opens in a real browser: headless Chromium (Debian `chromium`, installed for
 * tests by scripts/system-deps.sh) loads it from disk with no console errors or failed requests,
 * every thumbnail decodes, the plots are drawn, and the screenshot is not blank. Skipped when
 * /usr/bin/chromium is absent. ATELIER_KEEP_SCREENSHOT=path keeps the screenshot to look at.
 */

const CHROMIUM = '/usr/bin/chromium';
const tmp = tempDir();
let html: string;

beforeAll(async () => {
  const pairsFile = await writeEvalFixtures(tmp.dir);
  const out = tmp.file('report');
  const results = await runEvaluation({ pairsFile, outDir: out, methods: [{ def: methods['color.reinhard'], params: {} }], command: 'eval' });
  html = path.join(out, 'index.html');
  writeFileSync(html, renderReport(results));
});
afterAll(() => tmp.cleanup());

describe.skipIf(!existsSync(CHROMIUM))('HTML report in headless Chromium', () => {
  it('loads cleanly, shows every image and plot, and renders a non-blank page', async () => {
    const { chromium } = await import('playwright-core');
    const userDataDir = mkdtempSync(path.join(tmpdir(), 'atelier-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('requestfailed', (r) => problems.push(`failed: ${r.url()}`));
      await page.goto('file://' + html);
      // Thumbnails load lazily: scroll through the page, then wait for every image.
      // (Browser-side code is passed as text: this project compiles without the DOM types.)
      await page.evaluate(`(async () => {
        for (let y = 0; y < document.body.scrollHeight; y += 400) {
          window.scrollTo(0, y);
          await new Promise((r) => setTimeout(r, 20));
        }
        await Promise.all([...document.images].map((i) => (i.complete ? null : new Promise((r) => { i.onload = i.onerror = r; }))));
      })()`);
      const facts = (await page.evaluate(`({
        title: document.title,
        images: document.images.length,
        broken: [...document.images].filter((i) => i.naturalWidth === 0).map((i) => i.getAttribute('src')),
        plots: document.querySelectorAll('svg.plot').length,
        points: document.querySelectorAll('svg.plot circle').length,
        summaryRows: document.querySelectorAll('table.summary tbody tr').length,
        failures: document.querySelectorAll('table.failures tbody tr').length,
      })`)) as { title: string; images: number; broken: string[]; plots: number; points: number; summaryRows: number; failures: number };
      expect(problems).toEqual([]);
      expect(facts.title).toContain('color.reinhard');
      expect(facts.broken).toEqual([]);
      // 4 readable pairs × (content, style) minus shared…: at least content+style+output for 3 ok runs.
      expect(facts.images).toBeGreaterThanOrEqual(9);
      expect(facts.plots).toBe(3); // two trade-off scatters (swd-patches, histogram) and time per image
      expect(facts.points).toBeGreaterThanOrEqual(2 * (3 + 1));
      expect(facts.summaryRows).toBe(1);
      expect(facts.failures).toBe(HAS_FFMPEG ? 1 : 2); // the corrupt pair (and the video pair without ffmpeg)
      await page.evaluate('window.scrollTo(0, 0)');
      const shot = await page.screenshot({ fullPage: true });
      const keep = process.env.ATELIER_KEEP_SCREENSHOT;
      if (keep) writeFileSync(keep, shot);
      const stats = await sharp(shot).stats();
      const meta = await sharp(shot).metadata();
      expect(meta.height!).toBeGreaterThan(900);
      // A page with text, plots and photos: far from uniform.
      expect(Math.max(...stats.channels.map((c) => c.stdev))).toBeGreaterThan(20);
    } finally {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
