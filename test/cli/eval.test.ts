import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationResults } from '../../src/eval/results.js';
import { runCli } from '../helpers/cli.js';
import { HAS_FFMPEG, writeEvalFixtures } from '../helpers/eval-fixtures.js';
import { tempDir } from '../helpers/fixtures.js';

const tmp = tempDir();
let pairsFile: string;
beforeAll(async () => {
  pairsFile = await writeEvalFixtures(tmp.dir);
});
afterAll(() => tmp.cleanup());

const results = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as EvaluationResults;

describe('atelier eval', () => {
  const out = () => tmp.file('report');

  it('runs a method over every pair, skips the bad one, and writes results.json and index.html', () => {
    const r = runCli(['eval', '--pairs', pairsFile, '--method', 'color.reinhard', '--strength', '0.8', '--out', out()]);
    expect(r.stderr).toContain('warning: pair artistic/broken-style-a failed: Cannot decode content image');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/step 1\/5/); // progress over pairs
    const res = results(out());
    expect(res.runs).toEqual([expect.objectContaining({ method: 'color.reinhard', seed: 1, params: expect.objectContaining({ strength: 0.8, space: 'lab' }) })]);
    expect(res.tool.version).toMatch(/^\d+\.\d+\.\d+/);
    const byPair = Object.fromEntries(res.results.map((x) => [x.pair, x]));
    expect(byPair['artistic/broken-style-a']).toMatchObject({ status: 'failed', error: { code: 'E_IMAGE_DECODE' } });
    const video = byPair['video/clip-style-a']!;
    if (HAS_FFMPEG) {
      // 6 frames decoded, each stylised, and the flicker between them measured.
      expect(video).toMatchObject({ status: 'ok', meta: { frames: 6 } });
      expect(video.metrics.temporal!.parts.pairs).toBe(5);
      expect(existsSync(path.join(out(), video.output!, 'frame-0006.png'))).toBe(true);
    } else {
      expect(video).toMatchObject({ status: 'skipped', error: { code: 'E_DEPENDENCY' } });
    }
    const ok = byPair['artistic/content-a-style-a']!;
    expect(ok.status).toBe('ok');
    expect(ok.metrics.ssim!.value).toBeGreaterThan(0);
    expect(ok.metrics.ssim!.value).toBeLessThan(1);
    expect(ok.timings!.runMs).toBeGreaterThanOrEqual(0);
    expect(existsSync(path.join(out(), ok.output!))).toBe(true);
    expect(existsSync(path.join(out(), ok.thumb!))).toBe(true);
    expect(ok.metrics.temporal).toBeUndefined(); // a frame metric, not for image pairs
    // The masked photoreal pair ran region by region.
    expect(byPair['photoreal/content-a-style-a']!.meta).toMatchObject({ regions: 2 });
    expect(res.aggregate['color.reinhard']).toMatchObject(HAS_FFMPEG ? { ok: 4, failed: 1, skipped: 0 } : { ok: 3, failed: 1, skipped: 1 });
    expect(res.aggregate['color.reinhard']!.metrics.ssim!.count).toBe(HAS_FFMPEG ? 4 : 3);
    const html = readFileSync(path.join(out(), 'index.html'), 'utf8');
    expect(html).toContain('<svg class="plot"');
    expect(html).toContain('artistic/broken-style-a');
  });

  it('refuses to overwrite results without --force, and --resume reuses what succeeded', () => {
    const again = runCli(['eval', '--pairs', pairsFile, '--method', 'color.reinhard', '--strength', '0.8', '--out', out()]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('E_OUTPUT_EXISTS');
    const before = results(out());
    const resumed = runCli(['eval', '--pairs', pairsFile, '--method', 'color.reinhard', '--strength', '0.8', '--out', out(), '--resume']);
    expect(resumed.status).toBe(0);
    const after = results(out());
    const okBefore = before.results.filter((x) => x.status === 'ok');
    // Reused untouched: same timings object, so the method did not run again.
    for (const r of okBefore) expect(after.results.find((x) => x.pair === r.pair)!.timings).toEqual(r.timings);
    expect(after.createdAt).toBe(before.createdAt);
    // Other parameters cannot resume into the same folder.
    const other = runCli(['eval', '--pairs', pairsFile, '--method', 'color.reinhard', '--strength', '0.5', '--out', out(), '--resume']);
    expect(other.status).toBe(2);
    expect(other.stderr).toContain('ran with other parameters');
  });

  it('checks its flags: metrics, groups, method params', () => {
    const m = runCli(['eval', '--pairs', pairsFile, '--out', tmp.file('x'), '--metrics', 'ssmi']);
    expect(m.status).toBe(2);
    expect(m.stderr).toContain('Did you mean ssim?');
    const g = runCli(['eval', '--pairs', pairsFile, '--out', tmp.file('y'), '--group', 'nope']);
    expect(g.stderr).toContain('No pairs to evaluate');
    const p = runCli(['eval', '--pairs', pairsFile, '--out', tmp.file('z'), '--strength', '3']);
    expect(p.status).toBe(2);
    expect(p.stderr).toContain('--strength');
  });

  it('fails with the pairs\' own error when no pair can be evaluated', () => {
    writeFileSync(tmp.file('only-broken.json'), JSON.stringify([{ content: 'broken.png', style: 'style-a.png' }]));
    const bad = runCli(['eval', '--pairs', tmp.file('only-broken.json'), '--out', tmp.file('bad')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('No pair could be evaluated');
    expect(bad.stderr).toContain('E_IMAGE_DECODE');
  });

  it('prints a JSON summary with --json and limits the pairs with --limit and --metrics', () => {
    const r = runCli(['eval', '--pairs', pairsFile, '--out', tmp.file('json'), '--json', '--limit', '1', '--metrics', 'psnr,ssim', '--method', 'color.reinhard']);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.succeeded).toBe(1);
    expect(Object.keys(summary.aggregate['color.reinhard'].metrics).sort()).toEqual(['psnr', 'ssim']);
  });
});

describe('atelier compare', () => {
  it('runs the methods on the same pairs and writes contact sheets with the report', () => {
    const out = tmp.file('sheet');
    const r = runCli(['compare', '--pairs', pairsFile, '--methods', 'color.reinhard', '--set', 'color.reinhard.space=lalphabeta', '--max-size', '40', '--out', out, '--group', 'artistic']);
    expect(r.status).toBe(0);
    const res = results(out);
    expect(res.command).toBe('compare');
    expect(res.runs[0]!.params).toMatchObject({ space: 'lalphabeta', maxSize: 40 });
    const ok = res.results.find((x) => x.status === 'ok')!;
    expect(Math.max(ok.width!, ok.height!)).toBe(40);
    expect(existsSync(path.join(out, 'contact-sheet-artistic.png'))).toBe(true);
    expect(readFileSync(path.join(out, 'index.html'), 'utf8')).toContain('contact-sheet-artistic.png');
  });

  it('refuses a malformed --set', () => {
    const r = runCli(['compare', '--pairs', pairsFile, '--methods', 'color.reinhard', '--set', 'nomethod.x=1', '--out', tmp.file('s2')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('METHOD.PARAM=VALUE');
  });
});
