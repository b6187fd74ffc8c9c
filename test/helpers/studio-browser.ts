/// <reference lib="dom" />
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { studioDir } from '../../src/server/routes/studio.js';

/**
 * What the studio's browser tests share: Debian's chromium driven by playwright-core, whether it
 * (and a built studio) is there, where screenshots go (scratch/screenshots, git-ignored) and the
 * axe-core check for serious accessibility violations.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHROMIUM = process.env.ATELIER_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(root, 'scratch', 'screenshots');
export const studioBrowserReady = existsSync(CHROMIUM) && studioDir() !== undefined;
export const STUDIO_BROWSER_SKIP = existsSync(CHROMIUM) ? 'the studio is not built (npm run build)' : `no chromium at ${CHROMIUM} (scripts/system-deps.sh test installs it)`;
const AXE = path.join(root, 'node_modules', 'axe-core', 'axe.min.js');

export function launchStudioBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** axe-core in the page: violations of impact serious or critical, as "rule: target" lines. */
export async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated over the devtools protocol: the studio's CSP (rightly) refuses inline script tags.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(readFileSync(AXE, 'utf8'));
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
    return axe.run(document, { resultTypes: ['violations'] });
  });
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
