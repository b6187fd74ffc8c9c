import type { Command } from 'commander';
import { AtelierError } from '../core/errors.js';
import {
  importModel,
  listModels,
  modelStatus,
  pullModel,
  removeModel,
  verifyModel,
  type ModelStatus,
  type PullResult,
  type VerifyResult,
} from '../engine/store.js';
import { effectiveUrl } from '../engine/store/manifest.js';
import type { CliCommand } from './commands.js';
import { createProgressDisplay } from './progress-display.js';

interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
}

function megabytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'size unknown';
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

function statusJson(s: ModelStatus) {
  const { entry } = s;
  return {
    name: s.name,
    installed: s.installed,
    path: s.path,
    description: entry.description,
    network: entry.network,
    format: entry.format,
    url: effectiveUrl(entry),
    page: entry.page,
    size: entry.size,
    sha256: entry.sha256,
    licence: entry.licence,
    ...(s.record && { installedRecord: s.record }),
    ...(s.partialBytes !== undefined && { partialBytes: s.partialBytes }),
  };
}

export function formatModelList(statuses: ModelStatus[]): string {
  const width = Math.max(...statuses.map((s) => s.name.length));
  const lines: string[] = [];
  for (const s of statuses) {
    const state = s.installed ? 'installed' : s.partialBytes !== undefined ? `partial ${megabytes(s.partialBytes)}` : 'not installed';
    lines.push(`${s.name.padEnd(width)}  ${state.padEnd(16)} ${megabytes(s.entry.size).padEnd(12)} ${s.entry.description}`);
    lines.push(`${''.padEnd(width)}  licence: ${s.entry.licence}; ${s.entry.sha256 ? 'SHA-256 known' : 'no published checksum'}${effectiveUrl(s.entry) ? '' : '; fetch by hand'}`);
  }
  lines.push('', '`atelier models pull NAME` downloads and verifies one; `atelier models import NAME FILE` installs a file fetched by hand.');
  return lines.join('\n');
}

function progressMode(opts: OutputOptions): 'bar' | 'lines' | 'quiet' {
  if (opts.quiet || opts.json) return 'quiet';
  return process.stderr.isTTY ? 'bar' : 'lines';
}

function describeInstall(name: string, r: PullResult): string {
  const check = r.record.checksumVerified ? 'SHA-256 verified' : 'no published checksum: checked that it reads as a weight file';
  if (!r.downloaded && r.record.source.startsWith('import:')) return `imported ${name} → ${r.path} (${megabytes(r.record.size)}, ${check})`;
  if (!r.downloaded) return `${name} is installed already: ${r.path} (use --force to download it again)`;
  const resumed = r.resumedFrom > 0 ? `, resumed at ${megabytes(r.resumedFrom)}` : '';
  return `installed ${name} → ${r.path} (${megabytes(r.record.size)}${resumed}, ${check})`;
}

export const modelsCommand: CliCommand = {
  register(program: Command) {
    const models = program
      .command('models')
      .description('Manage published model weights: list, pull (download and verify), import a file fetched by hand, rm, verify.');

    models
      .command('list', { isDefault: true })
      .description('List the models in the manifest and whether each is installed.')
      .option('--json', 'print as JSON')
      .action((opts: OutputOptions) => {
        const statuses = listModels();
        if (opts.json) process.stdout.write(JSON.stringify(statuses.map(statusJson), null, 2) + '\n');
        else process.stdout.write(formatModelList(statuses) + '\n');
      });

    models
      .command('pull')
      .description('Download models from their published source, verify size and SHA-256, install them. An interrupted download resumes.')
      .argument('<names...>', 'model names (see `atelier models list`)')
      .option('--force', 'download again even when installed')
      .option('-q, --quiet', 'print nothing but errors')
      .option('--json', 'print the result (or error) as JSON on stdout')
      .action(async (names: string[], opts: OutputOptions & { force?: boolean }) => {
        for (const name of names) modelStatus(name); // unknown names fail before anything is downloaded
        const results: { name: string; result: PullResult }[] = [];
        const abort = new AbortController();
        const onSigint = () => abort.abort(new Error('interrupted'));
        process.once('SIGINT', onSigint);
        try {
          for (const name of names) {
            const display = createProgressDisplay(process.stderr, progressMode(opts));
            try {
              const result = await pullModel(name, { onProgress: display.listener, signal: abort.signal, force: Boolean(opts.force) });
              results.push({ name, result });
            } finally {
              display.finish();
            }
            if (!opts.json && !opts.quiet) process.stderr.write(describeInstall(name, results[results.length - 1]!.result) + '\n');
          }
        } finally {
          process.removeListener('SIGINT', onSigint);
        }
        if (opts.json) {
          const body = results.map(({ result }) => ({ ...result.record, path: result.path, downloaded: result.downloaded, resumedFrom: result.resumedFrom }));
          process.stdout.write(JSON.stringify({ ok: true, models: body }, null, 2) + '\n');
        }
      });

    models
      .command('import')
      .description('Install a weight file you downloaded yourself, checking its size and SHA-256 when the manifest knows them.')
      .argument('<name>', 'model name (see `atelier models list`)')
      .argument('<file>', 'the downloaded file')
      .option('--force', 'replace an installed copy')
      .option('-q, --quiet', 'print nothing but errors')
      .option('--json', 'print the result (or error) as JSON on stdout')
      .action(async (name: string, file: string, opts: OutputOptions & { force?: boolean }) => {
        const result = await importModel(name, file, { force: Boolean(opts.force) });
        if (opts.json) process.stdout.write(JSON.stringify({ ok: true, ...result.record, path: result.path }, null, 2) + '\n');
        else if (!opts.quiet) process.stderr.write(describeInstall(name, result) + '\n');
      });

    models
      .command('rm')
      .description('Remove installed models (and any partial download of them).')
      .argument('<names...>', 'model names')
      .option('-q, --quiet', 'print nothing but errors')
      .option('--json', 'print the result as JSON on stdout')
      .action(async (names: string[], opts: OutputOptions) => {
        for (const name of names) modelStatus(name);
        const removed = [];
        for (const name of names) removed.push({ name, ...(await removeModel(name)) });
        if (opts.json) process.stdout.write(JSON.stringify({ ok: true, models: removed }, null, 2) + '\n');
        else if (!opts.quiet) {
          for (const r of removed) process.stderr.write(r.removed ? `removed ${r.name} (${megabytes(r.freedBytes)} freed)\n` : `${r.name} was not installed\n`);
        }
      });

    models
      .command('verify')
      .description('Re-hash installed models and compare with the manifest; exits with status 1 if any fails.')
      .argument('[names...]', 'model names (default: every installed model)')
      .option('--json', 'print the results as JSON on stdout')
      .action(async (names: string[], opts: OutputOptions) => {
        const targets = names.length > 0 ? names : listModels().filter((s) => s.installed).map((s) => s.name);
        for (const name of targets) modelStatus(name);
        const results: VerifyResult[] = [];
        for (const name of targets) results.push(await verifyModel(name));
        const failed = results.filter((r) => r.status !== 'ok');
        if (!opts.json) {
          if (results.length === 0) process.stdout.write('no models are installed\n');
          for (const r of results) process.stdout.write(`${r.name}: ${r.status} — ${r.message}\n`);
        }
        if (failed.length > 0) {
          const allMissing = failed.every((r) => r.status === 'missing');
          throw new AtelierError(allMissing ? 'E_WEIGHTS_MISSING' : 'E_WEIGHTS_INVALID', `${failed.length} of ${results.length} models failed verification`, {
            received: failed.map((r) => `${r.name}: ${r.status}`).join(', '),
            hint: failed.length === 1 ? failed[0]!.message : 'see each model above; `atelier models pull NAME --force` replaces a damaged file',
          });
        }
        if (opts.json) process.stdout.write(JSON.stringify({ ok: true, models: results }, null, 2) + '\n');
      });
  },
};
