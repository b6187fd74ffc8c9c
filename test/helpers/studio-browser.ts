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

/**
 * Controls whose boundary does not reach 3:1 against what surrounds them (WCAG 1.4.11, non-text
 * contrast), which axe-core does not check: bordered buttons, selects, text and number fields,
 * drop zones and switch tracks. A control passes when its border or its fill reaches 3:1 against
 * the first opaque background behind it; disabled controls are exempt (as in WCAG). Returns
 * "selector: ratio" lines.
 */
export async function lowContrastControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const rgba = (c: string): [number, number, number, number] | undefined => {
      const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(c);
      return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])] : undefined;
    };
    const over = (top: [number, number, number, number], under: [number, number, number]): [number, number, number] => [0, 1, 2].map((i) => top[i]! * top[3] + under[i]! * (1 - top[3])) as [number, number, number];
    const luminance = (c: [number, number, number]) => {
      const lin = c.map((v) => {
        const s = v / 255;
        return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * lin[0]! + 0.7152 * lin[1]! + 0.0722 * lin[2]!;
    };
    const ratio = (a: [number, number, number], b: [number, number, number]) => {
      const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
      return (x! + 0.05) / (y! + 0.05);
    };
    /** The colour behind an element: its ancestors' backgrounds composed from the page up. */
    const behind = (el: Element): [number, number, number] => {
      const chain: [number, number, number, number][] = [];
      for (let e = el.parentElement; e; e = e.parentElement) {
        const c = rgba(getComputedStyle(e).backgroundColor);
        if (c && c[3] > 0) chain.push(c);
        if (c && c[3] === 1) break;
      }
      return chain.reduceRight<[number, number, number]>((under, top) => over(top, under), [255, 255, 255]);
    };
    const describe = (el: Element) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.getAttribute('aria-label') ? `[aria-label="${el.getAttribute('aria-label')}"]` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}`;
    const out: string[] = [];
    for (const el of document.querySelectorAll('button, select, input[type="text"], input[type="number"], input[type="password"], .dropzone, .switch-track')) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0 || (el as HTMLButtonElement).disabled || el.closest('[hidden], [aria-hidden="true"]:not(.switch-track)')) continue;
      const s = getComputedStyle(el);
      if (s.visibility === 'hidden' || Number(s.opacity) === 0) continue;
      const back = behind(el);
      const fill = rgba(s.backgroundColor);
      const border = Number.parseFloat(s.borderTopWidth) > 0 && s.borderTopStyle !== 'none' ? rgba(s.borderTopColor) : undefined;
      // Neither a border nor a fill of its own (a text link), or a history card's picture area
      // (the card's picture or state word is what identifies it): identified by its content.
      if ((!border && (!fill || fill[3] === 0)) || el.classList.contains('thumb')) continue;
      const best = Math.max(border ? ratio(over(border, back), back) : 0, fill && fill[3] > 0 ? ratio(over(fill, back), back) : 0);
      if (best < 3) out.push(`${describe(el)}: ${best.toFixed(2)}`);
    }
    return out;
  });
}

/**
 * Controls the keyboard cannot reach: every visible, enabled button, field, select, summary, link
 * and custom control (tabindex 0) is expected to take the focus as Tab walks the page from the
 * top. Returns a description of each control the walk never reached.
 */
export async function unreachableByTab(page: Page): Promise<string[]> {
  const count = await page.evaluate(() => {
    let n = 0;
    for (const el of document.querySelectorAll('button, input, select, textarea, summary, a[href], [tabindex="0"]')) {
      const e = el as HTMLElement & { disabled?: boolean };
      if (e.disabled || e.getClientRects().length === 0 || getComputedStyle(e).visibility === 'hidden' || e.closest('[inert], details:not([open]) > :not(summary)')) continue;
      e.dataset.tabProbe = String(n++);
    }
    (document.activeElement as HTMLElement | null)?.blur();
    return n;
  });
  const reached = new Set<string>();
  for (let i = 0; i < count + 10; i++) {
    await page.keyboard.press('Tab');
    const probe = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.tabProbe);
    if (probe !== undefined) reached.add(probe);
  }
  return page.evaluate((seen) => {
    const out: string[] = [];
    for (const el of document.querySelectorAll('[data-tab-probe]')) {
      const e = el as HTMLElement;
      if (!seen.includes(e.dataset.tabProbe!)) out.push(`${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.getAttribute('aria-label') ? `[aria-label="${e.getAttribute('aria-label')}"]` : ''} "${(e.textContent ?? '').trim().slice(0, 30)}"`);
      delete e.dataset.tabProbe;
    }
    return out;
  }, [...reached]);
}
