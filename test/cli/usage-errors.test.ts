import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { coerceParam } from '../../src/core/params.js';
import { readImage } from '../../src/core/io.js';
import { isAtelierError } from '../../src/core/errors.js';
import { listMethods } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';

/**
 * Every flag checked with its real range, and every usage error found before any work (exit 2):
 * nothing is written, no method runs (no progress line), the message names the fix.
 */

const tmp = tempDir('atelier-usage-');
let content: string;
let style: string;
let tiny: string;
let animation: string;

beforeAll(async () => {
  content = tmp.file('c.png');
  style = tmp.file('s.png');
  tiny = tmp.file('one.png');
  animation = tmp.file('anim.gif');
  await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toFile(content);
  await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 20, g: 100, b: 250 } } }).png().toFile(style);
  await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 90, g: 90, b: 90 } } }).png().toFile(tiny);
  await sharp([content, style], { join: { animated: true } }).gif().toFile(animation);
});

function transfer(extra: string[], method = 'color.reinhard') {
  return runCli(['transfer', content, style, '-m', method, ...extra]);
}

/** A usage error: exit 2, the message, no method started, no output file. */
function expectUsage(r: ReturnType<typeof runCli>, message: RegExp, output?: string) {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/started|step \d/);
  if (output) expect(existsSync(output)).toBe(false);
}

describe('output flags', () => {
  it('--quality outside [1, 100] and --bit-depth other than 8/16 are refused with the real range', () => {
    const out = tmp.file('q.jpg');
    expectUsage(transfer(['-o', out, '--quality', '500']), /Invalid value for --quality: expected an integer in \[1, 100\], received "500"/, out);
    expectUsage(transfer(['-o', out, '--quality', '0']), /expected an integer in \[1, 100\], received "0"/, out);
    expectUsage(transfer(['-o', out, '--quality', '0x50']), /--quality.*\[1, 100\]/, out);
    expectUsage(transfer(['-o', tmp.file('b.png'), '--bit-depth', '12']), /Invalid value for --bit-depth: expected 8 or 16, received "12"/);
    expectUsage(transfer(['-o', out, '--bit-depth', '16']), /--bit-depth 16 cannot be written as jpeg.*\.png or \.tif/, out);
  });

  it('-o out.svg with a raster method and an unknown extension are refused before any work (exit 2)', () => {
    const svg = tmp.file('r.svg');
    expectUsage(transfer(['-o', svg]), /color\.reinhard produces raster images only.*\[E_FORMAT\]/, svg);
    expectUsage(transfer(['-o', tmp.file('r.bmp')]), /Cannot tell the output format.*"\.bmp".*\[E_FORMAT\]/);
    // The methods that draw strokes declare it, and do write SVG.
    const vector = listMethods().filter((m) => m.vectorOutput).map((m) => m.id);
    expect(vector).toEqual(expect.arrayContaining(['paint.strokes', 'paint.haeberli']));
    const ok = runCli(['transfer', content, '-m', 'paint.haeberli', '-o', tmp.file('p.svg'), '--quiet']);
    expect(ok.status, ok.stderr).toBe(0);
  });

  it('a missing directory or an existing output without --force is found before the method runs', () => {
    const r = transfer(['-o', tmp.file('nowhere/x.png')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/directory that does not exist/);
    expect(r.stderr).not.toMatch(/started/);
    const existing = tmp.file('exists.png');
    writeFileSync(existing, 'x');
    const again = transfer(['-o', existing]);
    expect(again.stderr).toMatch(/Refusing to overwrite.*--force.*\[E_OUTPUT_EXISTS\]/);
    expect(again.stderr).not.toMatch(/started/);
  });

  it('--quality with a lossless format is said, not silently dropped', () => {
    const r = transfer(['-o', tmp.file('lossless.png'), '--quality', '50']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: --quality applies to JPEG, WebP and AVIF; PNG output is lossless/);
  });
});

describe('parameter flags', () => {
  it('numbers are read in decimal only: --strength 0x1 is refused, not read as 1', () => {
    expectUsage(transfer(['-o', tmp.file('strength.png'), '--strength', '0x1']), /Invalid value for --strength.*expected a number in \[0, 1\], received "0x1"/);
    for (const bad of ['0x1', '0b1', 'Infinity', '', '1,5', '1e']) expect(typeof coerceParam({ type: 'number' }, bad), bad).toBe('string');
    expect(coerceParam({ type: 'number' }, ' 0.5 ')).toBe(0.5);
    expect(coerceParam({ type: 'number' }, '1e-3')).toBe(0.001);
    expect(coerceParam({ type: 'integer' }, '-12')).toBe(-12);
  });

  it('--preserve-color maybe is not read as a second style image', () => {
    expectUsage(transfer(['-o', tmp.file('pc.png'), '--preserve-color', 'maybe']), /--preserve-color is a switch and takes no value.*"maybe".*--no-preserve-color/);
    // A switch followed by a real file is fine: the file is the style image.
    const ok = runCli(['transfer', content, '--preserve-color', style, '-m', 'color.reinhard', '-o', tmp.file('pc-ok.png'), '--quiet']);
    expect(ok.status, ok.stderr).toBe(0);
  });

  it('patch.analogy names its inputs as flags (--source-a)', () => {
    const r = runCli(['transfer', content, '-m', 'patch.analogy', '-o', tmp.file('an.png')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/patch\.analogy needs the input --source-a <file>/);
  });

  it('a 1×1 content gets no warning about the style', () => {
    const r = runCli(['transfer', tiny, style, '-m', 'patch.quilting', '-o', tmp.file('tiny.png')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/warning/);
  });

  it('texture: --quality, --bit-depth and the size flags give their ranges', () => {
    expectUsage(runCli(['texture', style, '--size', '64', '-o', tmp.file('t.jpg'), '--quality', '101']), /--quality.*\[1, 100\]/);
    expectUsage(runCli(['texture', style, '--size', '64', '-o', tmp.file('t.png'), '--block-size', '0x10']), /--block-size: expected an integer in \[2, 1024\]/);
  });
});

describe('multi-frame inputs', () => {
  it('an animated GIF is refused with a pointer to atelier video, on the CLI and in readImage', async () => {
    const r = runCli(['transfer', animation, style, '-m', 'color.reinhard', '-o', tmp.file('anim.png')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/content image is an animation of 2 frames.*atelier video/);
    const e = await readImage(animation).catch((x: unknown) => x);
    expect(isAtelierError(e) && e.code).toBe('E_FORMAT');
    // `atelier info` still describes it, frames included.
    const info = runCli(['info', animation]);
    expect(info.status).toBe(0);
    expect(info.stdout).toMatch(/frames:\s+2/);
  });
});

describe('eval --metrics', () => {
  it('a named metric without its weights is an error naming the fix, before any run', () => {
    const pairs = tmp.file('pairs.json');
    writeFileSync(pairs, JSON.stringify({ g: [{ content, style }] }));
    const out = tmp.file('report');
    const r = runCli(['eval', '--pairs', pairs, '--out', out, '-m', 'color.reinhard', '--metrics', 'psnr,lpips'], { env: { ATELIER_HOME: tmp.file('empty-home') } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/The metric lpips needs weights that are not installed.*atelier models pull.*--weights random.*\[E_WEIGHTS_MISSING\]/);
    expect(existsSync(out) && readdirSync(out).length > 0).toBe(false);
    // Without --metrics, the ones left out are named with the fix.
    const d = runCli(['eval', '--pairs', pairs, '--out', tmp.file('report2'), '-m', 'color.reinhard'], { env: { ATELIER_HOME: tmp.file('empty-home') } });
    expect(d.status, d.stderr).toBe(0);
    expect(d.stderr).toMatch(/warning: not computing .*lpips.*weights not installed; `atelier models pull/);
  });
});

describe('help pages', () => {
  it('no command help ends with an empty heading', () => {
    // The pages with extra sections (parameter groups, notes after the options) and the top one.
    for (const c of [[], ['transfer'], ['eval'], ['compare'], ['texture']]) {
      const r = runCli([...c, '--help']);
      expect(r.status).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      // A heading is a line ending in ':' not indented; the line after it must be an indented entry.
      lines.forEach((line, i) => {
        if (/^\S.*:$/.test(line)) expect(lines[i + 1] ?? '', `${c.join(' ')} --help: "${line}"`).toMatch(/^\s+\S/);
      });
    }
  });
});
