import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeImage } from '../../src/core/io.js';
import { buildServer } from '../../src/server/app.js';
import { runCli } from '../helpers/cli.js';
import { noiseImage, tempDir } from '../helpers/fixtures.js';
import { submit } from '../server/helpers.js';

/**
 * A full disk, for real: a small tmpfs (mounting needs root; skipped with a message otherwise).
 * The CLI's output, the server's job store and a model install each fail with a clear error and
 * leave nothing half-written behind.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shared = path.resolve(root, '../shared/weights');
const tmp = tempDir('atelier-diskfull-');
const mountPoint = tmp.file('full');
let mounted = false;
let why = '';

function mountTmpfs(size: string): boolean {
  try {
    mkdirSync(mountPoint, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint], { stdio: 'pipe' });
    return true;
  } catch (e) {
    why = (e as Error).message.split('\n')[0]!;
    return false;
  }
}

beforeAll(() => {
  mounted = process.platform === 'linux' && mountTmpfs('256k');
  if (!mounted) console.warn(`disk-full tests skipped: cannot mount a tmpfs (${why || 'not Linux'}); they need root`);
});
afterAll(() => {
  if (mounted) execFileSync('umount', [mountPoint]);
  tmp.cleanup();
});

/** Every file under a directory, temp files included. */
function filesUnder(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : [];
}

describe('a full disk', () => {
  it('CLI: the output fails with E_OUTPUT_WRITE naming the disk, and no file or temp file is left', async (ctx) => {
    if (!mounted) ctx.skip();
    const content = tmp.file('big.png');
    // Noise compresses badly: ~1.5 MB of PNG for a 256 kB disk.
    writeFileSync(content, await encodeImage(noiseImage(800, 600, 4), 'png'));
    const out = path.join(mountPoint, 'out.png');
    const r = runCli(['transfer', content, content, '-m', 'color.reinhard', '-o', out, '--json']);
    expect(r.status).toBe(1);
    const error = JSON.parse(r.stdout).error;
    expect(error.code).toBe('E_OUTPUT_WRITE');
    expect(error.message).toMatch(/ENOSPC|no space/i);
    expect(error.message).toMatch(/disk has space/);
    expect(filesUnder(mountPoint)).toEqual([]);
  });

  it('job store: an upload that does not fit is refused, no job is recorded, no blob is half-written', async (ctx) => {
    if (!mounted) ctx.skip();
    const dataDir = path.join(mountPoint, 'server');
    const app = await buildServer({ dataDir, execution: 'inline', studio: false, concurrency: 1, maxUploadBytes: 8_000_000 });
    try {
      const big = await encodeImage(noiseImage(600, 400, 9), 'png');
      const r = await submit(app, [['method', 'color.reinhard'], ['content', { bytes: big }], ['style', { bytes: big }]]);
      expect(r.statusCode).toBeGreaterThanOrEqual(500);
      expect(r.json().error.code).toBe('E_OUTPUT_WRITE');
      expect(r.json().error.message).toMatch(/ENOSPC|no space/i);
      expect((await app.inject({ url: '/api/jobs' })).json().total).toBe(0);
      expect(filesUnder(path.join(dataDir, 'blobs')).filter((f) => f.endsWith('.tmp') || /[0-9a-f]{64}$/.test(f))).toEqual([]);
    } finally {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it.skipIf(!existsSync(path.join(shared, 'microast')))('model install: a model that does not fit is not installed, and no partial file stays', async (ctx) => {
    if (!mounted) ctx.skip();
    const home = path.join(mountPoint, 'home');
    mkdirSync(home);
    const r = runCli(['models', 'pull', 'microast', '--from', shared, '--json'], { env: { ATELIER_HOME: home } });
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/ENOSPC|no space|disk/i);
    const list = runCli(['models', 'list', '--json'], { env: { ATELIER_HOME: home } });
    const microast = JSON.parse(list.stdout) as { name: string; installed: boolean }[] | { models: { name: string; installed: boolean }[] };
    const entries = Array.isArray(microast) ? microast : microast.models;
    expect(entries.find((m) => m.name === 'microast')?.installed).toBe(false);
    const left = filesUnder(home).filter((f) => !f.endsWith(path.sep) && /\.(onnx|bin|pth|safetensors|part|tmp|json)$/.test(f));
    expect(left, 'partial model files').toEqual([]);
    rmSync(home, { recursive: true, force: true });
  });
});
