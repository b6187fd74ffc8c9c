import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeStrayTemps, writeFileAtomic } from '../../src/core/io.js';
import { tempDir } from '../helpers/fixtures.js';

/** What a killed writer leaves is swept by the next write in the same directory; --force keeps the mode. */

describe('writeFileAtomic leftovers', () => {
  it('a .tmp left by a process killed with SIGKILL mid-write is removed at the next write there; a live writer\'s is kept', async () => {
    const tmp = tempDir('atelier-leftover-');
    try {
      // A real writer killed mid-write: it opens its temp file the way writeFileAtomic names it, then dies.
      const script = `
        const fs = require('node:fs');
        const name = require('node:path').join(${JSON.stringify(tmp.dir)}, '.out.png.' + process.pid + '.0badf00d.tmp');
        fs.writeFileSync(name, Buffer.alloc(4096, 7));
        process.kill(process.pid, 'SIGKILL');`;
      const r = spawnSync(process.execPath, ['-e', script]);
      expect(r.signal).toBe('SIGKILL');
      const stray = readdirSync(tmp.dir).filter((n) => n.endsWith('.tmp'));
      expect(stray).toHaveLength(1);
      // A live process's temp file (this test runner's parent) must survive the sweep.
      const live = path.join(tmp.dir, `.other.png.${process.ppid}.12345678.tmp`);
      writeFileSync(live, 'in progress');
      // So must one this process is filling outside writeFileAtomic (as the video encoder does).
      const own = path.join(tmp.dir, `.clip.mp4.${process.pid}.87654321.tmp`);
      writeFileSync(own, 'encoding');
      await writeFileAtomic(tmp.file('out.png'), 'new result');
      const left = readdirSync(tmp.dir).filter((n) => n.endsWith('.tmp'));
      expect(left.sort()).toEqual([path.basename(own), path.basename(live)].sort());
      expect(readFileSync(tmp.file('out.png'), 'utf8')).toBe('new result');
      // Swept once per directory per process.
      expect(await removeStrayTemps(tmp.dir)).toEqual([]);
    } finally {
      tmp.cleanup();
    }
  });

  it('--force over a read-only file keeps its mode', async () => {
    const tmp = tempDir('atelier-mode-');
    try {
      const file = tmp.file('result.png');
      writeFileSync(file, 'old');
      chmodSync(file, 0o444);
      await writeFileAtomic(file, 'replaced', { force: true });
      expect(readFileSync(file, 'utf8')).toBe('replaced');
      expect(statSync(file).mode & 0o777).toBe(0o444);
      chmodSync(file, 0o640);
      await writeFileAtomic(file, 'again', { force: true });
      expect(statSync(file).mode & 0o777).toBe(0o640);
      // A new file gets the usual mode (umask applies), not a copied one.
      await writeFileAtomic(tmp.file('fresh.png'), 'x');
      expect(existsSync(tmp.file('fresh.png'))).toBe(true);
    } finally {
      tmp.cleanup();
    }
  });
});
