import type { Command } from 'commander';
import { AtelierError } from '../core/errors.js';
import {
  describeSource,
  importModel,
  listModels,
  modelStatus,
  pullCommand,
  pullModel,
  removeModel,
  verifyModel,
  type ModelStatus,
  type PullResult,
  type VerifyResult,
} from '../engine/store.js';
import { effectiveUrl, needsAcceptance, totalSize, type ModelEntry } from '../engine/store/manifest.js';
import { legacyTrainedLeft } from '../engine/store/legacy-trained.js';
import { readSafetensorsHeader } from '../engine/weights/safetensors.js';
import type { CliCommand } from './command.js';
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
  const single = entry.files.length === 1 ? entry.files[0]! : undefined;
  return {
    name: s.name,
    installed: s.installed,
    path: s.path,
    dir: s.dir,
    description: entry.description,
    network: entry.network,
    format: entry.format,
    // single-file models keep their top-level url/size/sha256 (scripts read them)
    url: effectiveUrl(entry),
    page: entry.page,
    size: single ? single.size : totalSize(entry.files),
    sha256: single ? single.sha256 : null,
    licence: entry.licence,
    terms: entry.terms,
    needsAcceptance: needsAcceptance(entry),
    files: s.files.map((f) => ({
      path: f.path,
      format: f.format,
      size: f.size,
      sha256: f.sha256,
      url: effectiveUrl(entry, entry.files.find((x) => x.path === f.path)),
      installed: f.installed,
      ...(f.variant !== undefined && { variant: f.variant }),
    })),
    ...(entry.variants && { variants: entry.variants, installedVariants: s.variants ?? [] }),
    ...(s.record && { installedRecord: s.record }),
    ...(s.partialBytes !== undefined && { partialBytes: s.partialBytes }),
    // made here: the kind is `network`; how it was made (trainer, CLI or server job, iterations, date) and the method that runs it
    ...(entry.trained && { trained: entry.trained, made: madeLine(entry) }),
  };
}

function licenceLine(s: ModelStatus): string {
  const { entry } = s;
  const terms = needsAcceptance(entry) ? ` — ${entry.terms.toUpperCase()}: installs only with --accept-licence` : '';
  return `${entry.licence}${terms}`;
}

/** `atelier models info NAME`: everything the manifest and the store know about one model. */
export function formatModelInfo(s: ModelStatus): string {
  const { entry } = s;
  const lines = [
    `${s.name}: ${entry.description}`,
    `  network:   ${entry.network}`,
    `  format:    ${[...new Set(s.files.map((f) => f.format))].join(', ')}`,
    `  licence:   ${licenceLine(s)}`,
    `  source:    ${entry.trained ? 'made here (no download: `atelier models rm` deletes the only copy)' : entry.page}`,
    `  size:      ${megabytes(totalSize(entry.files))} in ${entry.files.length} file${entry.files.length === 1 ? '' : 's'}`,
    `  installed: ${s.installed ? `yes, in ${s.dir}${s.variants ? ` (variants: ${s.variants.join(', ')})` : ''}` : s.partialBytes !== undefined ? `no (${megabytes(s.partialBytes)} of an interrupted download kept)` : 'no'}`,
  ];
  if (entry.variants) {
    lines.push(`  variants:  (default ${entry.variants.default}; choose with --variant NAME[,NAME] or all)`);
    for (const [v, c] of Object.entries(entry.variants.choices)) lines.push(`    ${v.padEnd(10)} ${c.description}`);
  }
  lines.push('  files:');
  const width = Math.max(...s.files.map((f) => f.path.length));
  for (const f of s.files) {
    const file = entry.files.find((x) => x.path === f.path)!;
    lines.push(`    ${f.installed ? '✓' : ' '} ${f.path.padEnd(width)}  ${f.format.padEnd(11)} ${megabytes(f.size).padEnd(9)} ${f.sha256 ?? 'no published SHA-256'}${f.variant ? `  [${f.variant}]` : ''}`);
    if (!entry.trained) lines.push(`      ${effectiveUrl(entry, file) ?? `fetch by hand from ${entry.page}`}`);
  }
  lines.push(`  provenance: ${entry.provenance}`);
  if (entry.trained) {
    lines.push(`  made by:   ${madeLine(entry)}`);
    const use = useLine(s);
    if (use) lines.push(`  run with:  atelier transfer ${use} …`);
    const params = Object.entries(entry.trained.params ?? {});
    if (params.length > 0) lines.push(`  trained with: ${params.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')}`);
  }
  if (!s.installed) lines.push('', `install: \`${pullCommand(entry)}\` (offline: add --from DIR, a folder holding the files)`);
  return lines.join('\n');
}

export function formatModelList(statuses: ModelStatus[]): string {
  const width = Math.max(...statuses.map((s) => s.name.length));
  const lines: string[] = [];
  for (const s of statuses) {
    const state = s.installed ? 'installed' : s.partialBytes !== undefined ? `partial ${megabytes(s.partialBytes)}` : 'not installed';
    const files = s.entry.files.length === 1 ? '' : ` (${s.entry.files.length} files)`;
    lines.push(`${s.name.padEnd(width)}  ${state.padEnd(16)} ${(megabytes(totalSize(s.entry.files)) + files).padEnd(20)} ${s.entry.description}`);
    const checksums = s.entry.files.every((f) => f.sha256) ? 'SHA-256 known' : 'no published checksum';
    lines.push(`${''.padEnd(width)}  licence: ${licenceLine(s)}; ${checksums}${s.entry.files.every((f) => effectiveUrl(s.entry, f)) ? '' : '; fetch by hand'}`);
  }
  lines.push(
    '',
    '`atelier models pull NAME` downloads and verifies one (`--from DIR` takes the files from a local folder instead);',
    '`atelier models info NAME` shows its files; `atelier models import NAME FILE` installs a file fetched by hand.',
  );
  return lines.join('\n');
}

/** How a model made here was made, in one line: `atelier train fast` (CLI) or a server job, iterations, date, where it moved from. */
export function madeLine(entry: ModelEntry): string {
  const t = entry.trained!;
  const how = t.job ? `server training job ${t.job} (${t.trainer})` : t.trainer === 'lora-merge' ? 'atelier lora merge' : `atelier train ${t.trainer} (CLI)`;
  const moved = t.migratedFrom ? `; moved from ${t.migratedFrom}${t.formerName ? `, formerly "${t.formerName}"` : ''}` : '';
  return `${how}, ${t.iterations} iterations, ${t.createdAt.slice(0, 10)}${moved}`;
}

/** The command line that runs a model made here. */
function useLine(s: ModelStatus): string | undefined {
  const use = s.entry.trained?.use;
  if (!use) return undefined;
  const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const others = Object.entries(use.params ?? {}).map(([k, v]) => ` ${flag(k)} ${String(v)}`).join('');
  return `--method ${use.method} ${flag(use.param)} ${s.name}${others}`;
}

/** A model made here, described from its weights' own metadata where that says more than its entry. */
async function describeMade(s: ModelStatus): Promise<string> {
  const weights = s.files.find((f) => f.format === 'safetensors' && f.installed);
  if (!weights) return s.entry.description;
  try {
    const { metadata: m } = await readSafetensorsHeader(weights.absolute);
    const kind = s.entry.network;
    if (kind === 'lora') return `LoRA adapter for ${m.base ?? '?'}: rank ${m.rank ?? '?'}, α ${m.alpha ?? '?'}${m.steps ? `, ${m.steps} steps` : ''}${m.style_images ? ` on ${(JSON.parse(m.style_images) as string[]).length} style images` : ''}`;
    if (m.lora) return `${kind} network: ${m.base ?? '?'} with LoRA ${m.lora} merged`;
  } catch {
    return `${s.entry.description} (its weights do not read: run \`atelier models verify ${s.name}\`)`;
  }
  return s.entry.description;
}

async function formatMade(made: ModelStatus[]): Promise<string> {
  const lines = ['', '', 'Made here (trained by `atelier train` or the server, merged, adapters):'];
  if (made.length === 0) return lines.concat('  none yet: `atelier train --help`, or the studio\'s #train page').join('\n');
  const width = Math.max(...made.map((m) => m.name.length));
  for (const s of made) {
    const size = s.record?.size ?? totalSize(s.entry.files);
    lines.push(`${s.name.padEnd(width)}  ${s.entry.network.padEnd(10)} ${megabytes(size).padEnd(9)} ${await describeMade(s)}`);
    lines.push(`${''.padEnd(width)}  made by ${madeLine(s.entry)}`);
    const use = useLine(s);
    if (use) lines.push(`${''.padEnd(width)}  run with: atelier transfer ${use} …`);
  }
  lines.push('', 'LoRA adapters apply with `--lora NAME[:weight]` (neural.fast); `atelier lora merge` folds them into a new model; `atelier models rm NAME` removes one.');
  return lines.join('\n');
}

function progressMode(opts: OutputOptions): 'bar' | 'lines' | 'quiet' {
  if (opts.quiet || opts.json) return 'quiet';
  return process.stderr.isTTY ? 'bar' : 'lines';
}

function describeInstall(name: string, r: PullResult): string {
  const check = r.record.checksumVerified ? 'SHA-256 verified' : 'no published checksum: checked that it reads as a weight file';
  const where = r.record.files.length === 1 ? r.path : `${r.dir} (${r.record.files.length} files)`;
  if (!r.downloaded && r.record.source.startsWith('import:')) return `imported ${name} → ${where} (${megabytes(r.record.size)}, ${check})`;
  if (!r.downloaded) return `${name} is installed already: ${where} (use --force to install it again)`;
  const resumed = r.resumedFrom > 0 ? `, resumed at ${megabytes(r.resumedFrom)}` : '';
  const accepted = r.record.licenceAccepted ? `, licence accepted: ${r.record.licenceAccepted.licence}` : '';
  return `installed ${name} → ${where} (${megabytes(r.record.size)}${resumed}, ${check}${accepted})`;
}

export const modelsCommand: CliCommand = {
  register(models: Command) {
    models
      .command('list', { isDefault: true })
      .description('List the models in the manifest and whether each is installed.')
      .option('--json', 'print as JSON')
      .action(async (opts: OutputOptions) => {
        const statuses = listModels();
        const published = statuses.filter((s) => !s.entry.trained);
        const made = statuses.filter((s) => s.entry.trained);
        if (opts.json) process.stdout.write(JSON.stringify(statuses.map(statusJson), null, 2) + '\n');
        else process.stdout.write(formatModelList(published) + (await formatMade(made)) + '\n');
        for (const left of legacyTrainedLeft()) process.stderr.write(`warning: ${left.file} stays in the old trained-model folder: ${left.reason}\n`);
      });

    models
      .command('info')
      .description('Show one model: source, licence, format, size, its files (with URL and SHA-256) and whether it is installed.')
      .argument('<name>', 'model name (see `atelier models list`)')
      .option('--json', 'print as JSON')
      .action((name: string, opts: OutputOptions) => {
        const status = modelStatus(name);
        if (opts.json) process.stdout.write(JSON.stringify(statusJson(status), null, 2) + '\n');
        else process.stdout.write(formatModelInfo(status) + '\n');
      });

    models
      .command('pull')
      .description(
        'Download models from their published source (or a mirror), verify size and SHA-256, install them. An interrupted download resumes; a model of several files appears only when all are in.',
      )
      .argument('<names...>', 'model names (see `atelier models list`)')
      .option('--from <dir-or-url>', 'take the files from a mirror: a folder (each file found by SHA-256 anywhere under it) or a URL (<url>/<name>/<file>); default $ATELIER_MODEL_MIRROR')
      .option('--variant <names>', 'variants to install, comma-separated, or "all" (models with variants; default: the default variant)')
      .option('--accept-licence', 'accept a non-commercial, academic-only or use-restricted (e.g. OpenRAIL-M) licence (required to install such models)')
      .option('--force', 'install again even when installed')
      .option('-q, --quiet', 'print nothing but errors')
      .option('--json', 'print the result (or error) as JSON on stdout')
      .action(async (names: string[], opts: OutputOptions & { force?: boolean; from?: string; variant?: string; acceptLicence?: boolean }) => {
        for (const name of names) modelStatus(name); // unknown names fail before anything is downloaded
        const variants = opts.variant === undefined ? undefined : opts.variant === 'all' ? ('all' as const) : opts.variant.split(',').map((v) => v.trim()).filter(Boolean);
        const results: { name: string; result: PullResult }[] = [];
        const abort = new AbortController();
        const onSigint = () => abort.abort(new Error('interrupted'));
        process.once('SIGINT', onSigint);
        try {
          for (const name of names) {
            const display = createProgressDisplay(process.stderr, progressMode(opts));
            try {
              if (!opts.json && !opts.quiet) process.stderr.write(`pulling ${name} from ${describeSource(opts.from !== undefined ? { from: opts.from } : {})}\n`);
              const result = await pullModel(name, {
                onProgress: display.listener,
                signal: abort.signal,
                force: Boolean(opts.force),
                ...(opts.from !== undefined && { from: opts.from }),
                ...(variants !== undefined && { variants }),
                acceptLicence: Boolean(opts.acceptLicence),
              });
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
          const body = results.map(({ result }) => ({ ...result.record, path: result.path, dir: result.dir, downloaded: result.downloaded, resumedFrom: result.resumedFrom }));
          process.stdout.write(JSON.stringify({ ok: true, models: body }, null, 2) + '\n');
        }
      });

    models
      .command('import')
      .description('Install a weight file you downloaded yourself, checking its size and SHA-256 when the manifest knows them.')
      .argument('<name>', 'model name (see `atelier models list`)')
      .argument('<file>', 'the downloaded file')
      .option('--force', 'replace an installed copy')
      .option('--accept-licence', 'accept a non-commercial, academic-only or use-restricted (e.g. OpenRAIL-M) licence (required to install such models)')
      .option('-q, --quiet', 'print nothing but errors')
      .option('--json', 'print the result (or error) as JSON on stdout')
      .action(async (name: string, file: string, opts: OutputOptions & { force?: boolean; acceptLicence?: boolean }) => {
        const result = await importModel(name, file, { force: Boolean(opts.force), acceptLicence: Boolean(opts.acceptLicence) });
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
