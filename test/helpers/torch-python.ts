import { spawnSync } from 'node:child_process';

/** A python3 that imports torch (Debian's python3-torch), or undefined when none does. */
export function findTorchPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}
