// What bench/unet.mjs and bench/diffusion-lora-step.mjs share: their common flags and one run of
// each side in a process of its own (so each peak memory is its own): Atelier's as a child of the
// bench (`--child`), PyTorch's as the peer script beside it, each printing JSON on its last line.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UNET_CONFIGS } from './sd15-unet-config.mjs';
import { option } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** --size (pixels; the latent is an eighth), --threads, --runs, --config (a UNET_CONFIGS name). */
export function unetBenchOptions(defaultSize) {
  const size = Number(option('size', String(defaultSize)));
  const configName = option('config', 'sd15');
  return { size, latent: size / 8, threads: Number(option('threads', '2')), runs: Number(option('runs', '2')), configName, config: UNET_CONFIGS[configName] };
}

function lastJsonLine(run) {
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1));
}

/** Run the bench at `benchUrl` again as `--child` (its own side) and `/usr/bin/python3 torchScript JOB`; both results. */
export function runBothSides(benchUrl, torchScript, torchJob) {
  const atelier = lastJsonLine(spawnSync(process.execPath, [fileURLToPath(benchUrl), ...process.argv.slice(2), '--child'], { encoding: 'utf8', maxBuffer: 1 << 24 }));
  const torch = lastJsonLine(spawnSync('/usr/bin/python3', [path.join(here, torchScript), JSON.stringify(torchJob)], { encoding: 'utf8' }));
  return { atelier, torch };
}
