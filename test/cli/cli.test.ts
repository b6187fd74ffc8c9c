import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageInfo, writeImage } from '../../src/core/io.js';
import { Image } from '../../src/core/image.js';
import { DEFAULT_METHOD } from '../../src/methods/index.js';
import { runCli } from '../helpers/cli.js';
import { gradientImage, noiseImage, tempDir } from '../helpers/fixtures.js';

const tmp = tempDir('atelier-cli-');
const content = tmp.file('content.png');
const style = tmp.file('style.jpg');

beforeAll(async () => {
  await writeImage(gradientImage(48, 32), content);
  await writeImage(noiseImage(40, 40, 5, [0.7, 0.4, 0.2]), style);
});
afterAll(() => tmp.cleanup());

function errorOf(stdout: string): { code: string; message: string } {
  return JSON.parse(stdout).error;
}

describe('atelier transfer', () => {
  it('restyles with the weight-free default method', async () => {
    const out = tmp.file('default.png');
    const r = runCli(['transfer', content, style, '-o', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).meta.method).toBe(DEFAULT_METHOD);
    expect((await imageInfo(out)).width).toBe(48);
  });

  it('restyles with a named method and writes the output', async () => {
    const out = tmp.file('out.png');
    const r = runCli(['transfer', content, style, '-o', out, '-m', 'color.reinhard']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('wrote');
    // Not a TTY: plain progress lines, starting and ending.
    expect(r.stderr).toMatch(/: 0% started/);
    expect(r.stderr).toMatch(/100% done/);
    const info = await imageInfo(out);
    expect([info.width, info.height, info.format]).toEqual([48, 32, 'png']);
  });

  it('prints the resolved params, timings and meta with --json', () => {
    const out = tmp.file('json.webp');
    const r = runCli(['transfer', content, style, '-o', out, '--json', '--strength', '0.5', '--seed', '7', '-m', 'color.reinhard']);
    expect(r.status, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout);
    expect(body).toMatchObject({ ok: true, output: out, params: { strength: 0.5, seed: 7 }, meta: { method: 'color.reinhard', seed: 7 } });
    expect(body.timings.totalMs).toBeGreaterThan(0);
  });

  it('writes 16-bit PNG on request', async () => {
    const out = tmp.file('deep.png');
    expect(runCli(['transfer', content, style, '-o', out, '--bit-depth', '16', '-q']).status).toBe(0);
    expect((await imageInfo(out)).depth).toBe('ushort');
  });

  it('refuses to overwrite without --force (exit 1), and overwrites with it', () => {
    const out = tmp.file('exists.png');
    writeFileSync(out, 'keep me');
    const r = runCli(['transfer', content, style, '-o', out, '--json']);
    expect(r.status).toBe(1);
    expect(errorOf(r.stdout).code).toBe('E_OUTPUT_EXISTS');
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    expect(runCli(['transfer', content, style, '-o', out, '--force', '-q']).status).toBe(0);
  });

  it('usage errors exit 2: unknown method (with a suggestion), bad params, unknown flags', () => {
    const out = tmp.file('never.png');
    const unknown = runCli(['transfer', content, style, '-o', out, '--method', 'color.reinhart']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('Did you mean color.reinhard?');
    for (const args of [['--strength', '2'], ['--strength', 'nan'], ['--strength', 'abc'], ['--seed', '1.5'], ['--space', 'hsv']]) {
      const r = runCli(['transfer', content, style, '-o', out, ...args]);
      expect(r.status, args.join(' ') + r.stderr).toBe(2);
    }
    const nan = runCli(['transfer', content, style, '-o', out, '--strength', 'NaN', '--json']);
    expect(errorOf(nan.stdout)).toMatchObject({ code: 'E_PARAM' });
    expect(errorOf(nan.stdout).message).toContain('--strength');
    const flag = runCli(['transfer', content, style, '-o', out, '--strenght', '1']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain('E_USAGE');
    expect(runCli(['transfer', content, style]).status).toBe(2); // no -o
    // An output format the command cannot write is the command line's mistake too.
    const format = runCli(['transfer', content, style, '-o', tmp.file('out.bmpx'), '--json']);
    expect(format.status).toBe(2);
    expect(errorOf(format.stdout).code).toBe('E_FORMAT');
    expect(existsSync(out)).toBe(false);
  });

  it('runtime errors exit 1 and write nothing: missing, corrupt, mismatched mask, missing directory', async () => {
    const out = tmp.file('never2.png');
    writeFileSync(tmp.file('corrupt.png'), 'not a png');
    await writeImage(new Image(10, 30, 1), tmp.file('tall-mask.png'));
    const cases: [string[], string][] = [
      [['transfer', tmp.file('missing.png'), style, '-o', out], 'E_FILE_NOT_FOUND'],
      [['transfer', tmp.file('corrupt.png'), style, '-o', out], 'E_IMAGE_DECODE'],
      [['transfer', content, style, '-o', out, '--mask', tmp.file('tall-mask.png')], 'E_MASK_MISMATCH'],
      [['transfer', content, style, '-o', tmp.file('no/such/dir/out.png')], 'E_OUTPUT_WRITE'],
      [['transfer', content, style, '-o', out, '--max-pixels', '100'], 'E_TOO_LARGE'],
    ];
    for (const [args, code] of cases) {
      const r = runCli([...args, '--json']);
      expect(r.status, args.join(' ')).toBe(1);
      expect(errorOf(r.stdout).code).toBe(code);
    }
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('shows generated parameter flags with ranges and defaults in --help', () => {
    const r = runCli(['transfer', '--method', 'color.reinhard', '--help']);
    expect(r.status).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/--strength <number> .* \(a number in \[0, 1\], default 1\)/);
    expect(r.stdout).toContain('--preserve-color');
    expect(r.stdout).toMatch(/--space <choice>/);
  });

  it('is interrupted cleanly by SIGINT once running: exit 1 with E_ABORTED, nothing written', async () => {
    const big = tmp.file('big.png');
    await writeImage(noiseImage(1200, 900, 9), big);
    const out = tmp.file('interrupted.png');
    // The signal is sent when the run reports its first step, so it lands mid-run, after the CLI
    // has installed its handler; patch.synthesis has many steps left at this size.
    const child = spawn(process.execPath, ['bin/atelier.js', 'transfer', big, style, '-o', out, '-m', 'patch.synthesis'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let signalled = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!signalled && /step \d+\//.test(stderr)) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code, stderr).toBe(1);
    expect(stderr).toContain('E_ABORTED');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('atelier methods and info', () => {
  it('lists methods grouped by family and describes one in full', () => {
    const list = runCli(['methods']);
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/^color — /m);
    expect(list.stdout).toContain('color.reinhard');
    const one = runCli(['methods', 'color.reinhard']);
    expect(one.stdout).toContain('--strength: a number in [0, 1], default 1 [shared]');
    expect(runCli(['methods', 'nope']).status).toBe(2);
  });

  it('prints the JSON description the server and studio reuse', () => {
    const r = runCli(['methods', '--json']);
    const all = JSON.parse(r.stdout) as { id: string; params: { properties: Record<string, { maximum?: number }> } }[];
    const reinhard = all.find((m) => m.id === 'color.reinhard')!;
    expect(reinhard.params.properties.strength!.maximum).toBe(1);
    expect(reinhard.params.properties.space).toBeDefined();
  });

  it('describes an image', () => {
    const r = runCli(['info', content, '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'png', width: 48, height: 32 });
    expect(runCli(['info', content]).stdout).toContain('48×32');
    expect(runCli(['info', tmp.file('missing.png')]).status).toBe(1);
  });
});

describe('README', () => {
  it('lists every registered method and error code (generated: npm run docs)', () => {
    const r = spawnSync(process.execPath, ['scripts/docs.mjs', '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
});
