import type { Command } from 'commander';
import { isAtelierError } from '../core/errors.js';
import { readDiffusionLoraStack } from '../engine/diffusion/lora-file.js';
import { loadLoraStack } from '../engine/lora/adapter.js';
import { mergeFastStyleLora } from '../engine/lora/merge-fast-style.js';
import { isMergeableImportedBase, MERGEABLE_IMPORTED_BASES, mergeImportedLora } from '../engine/lora/merge-imported.js';
import type { CliCommand } from './command.js';

/**
 * `atelier lora …`: LoRA adapters made by `atelier train lora` (docs/lora.md).
 *   merge  fold adapters into their base and store the result as a new model (fast-style, MicroAST);
 *   info   what an adapter changes and what it was trained on.
 */

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter((s) => s !== '')];

export const loraCommand: CliCommand = {
  register(cmd: Command) {
    cmd
      .command('merge')
      .description('Fold adapters into their base network and store it as a new model: a fast-style network (neural.fast --model NAME) or MicroAST (neural.microast --weights NAME)')
      .requiredOption('--base <model>', `the base network: a published fast-style model (installed), one made here, or ${MERGEABLE_IMPORTED_BASES.join(', ')}`)
      .requiredOption('--lora <file[:weight]>', 'an adapter file or stored adapter name, with its weight (default 1); repeat to stack', collect)
      .requiredOption('--name <name>', 'name of the new model in the store')
      .option('--out <file>', 'also keep the merged network as this .safetensors file')
      .option('--force', 'replace a stored model of that name')
      .option('--json', 'print a JSON summary')
      .action(async (o: { base: string; lora: string[]; name: string; out?: string; force?: boolean; json?: boolean }) => {
        const common = { base: o.base, lora: o.lora, name: o.name, ...(o.out && { out: o.out }), force: Boolean(o.force), warn: (m: string) => process.stderr.write(`atelier: ${m}\n`) };
        const r = isMergeableImportedBase(o.base) ? await mergeImportedLora(common) : { ...(await mergeFastStyleLora(common)), use: { method: 'neural.fast', param: 'model' } };
        if (o.json) process.stdout.write(JSON.stringify({ ok: true, ...r }, null, 2) + '\n');
        else process.stderr.write(`merged ${r.adapters.join(' + ')} into ${o.base} (${r.layers} weights changed): stored as ${o.name} (${r.installed}); run it with --method ${r.use.method} --${r.use.param} ${o.name}\n`);
      });
    cmd
      .command('info')
      .description('What an adapter changes: base, rank, α, layers and parameters, training facts (Atelier adapters, and Stable Diffusion LoRA files in kohya or diffusers keys)')
      .argument('<file>', 'adapter file or stored adapter name')
      .option('--json', 'print JSON')
      .action(async (file: string, o: { json?: boolean }) => {
        let adapter;
        try {
          [{ adapter }] = await loadLoraStack([file]);
        } catch (e) {
          // Not one of ours: a LoRA for Stable Diffusion in kohya's or diffusers' keys (docs/lora.md).
          if (!isAtelierError(e) || !['E_WEIGHTS_INVALID', 'E_WEIGHTS_MISSING'].includes(e.code)) throw e;
          // A file that is not ours reports what the diffusion reader found; a name neither kind knows, the first error.
          const foreign = e.message.startsWith('Not an Atelier LoRA adapter');
          const [{ lora }] = (await readDiffusionLoraStack([file]).catch((d: unknown) => Promise.reject(foreign ? d : e))).stack;
          const layers = lora.layers.map((l) => ({ component: l.component, module: l.module, rank: l.rank, alpha: l.alpha, down: l.downShape, up: l.upShape }));
          const params = lora.layers.reduce((n, l) => n + l.down.length + l.up.length, 0);
          if (o.json) process.stdout.write(JSON.stringify({ kind: 'diffusion', layouts: lora.layouts, parameters: params, layers }, null, 2) + '\n');
          else {
            const lines = [`${file}: LoRA for Stable Diffusion 1.x (${lora.layouts.join(' + ')} keys), ${params} parameters on ${layers.length} weights`];
            for (const l of layers) lines.push(`  ${l.component} ${l.module}: rank ${l.rank}, α ${l.alpha}, up [${l.up.join(', ')}] · down [${l.down.join(', ')}]`);
            process.stdout.write(lines.join('\n') + '\n');
          }
          return;
        }
        const params = adapter.layers.reduce((n, l) => n + l.a.length + l.b.length, 0);
        const facts = { base: adapter.base, baseSha256: adapter.baseSha256, network: adapter.network, rank: adapter.rank, alpha: adapter.alpha, parameters: params, layers: adapter.layers.map((l) => ({ name: l.name, shape: l.shape })), ...adapter.extra };
        if (o.json) process.stdout.write(JSON.stringify(facts, null, 2) + '\n');
        else {
          const lines = [`${file}: LoRA for ${adapter.base} (${adapter.network}), rank ${adapter.rank}, α ${adapter.alpha}, ${params} parameters on ${adapter.layers.length} weights`];
          for (const l of adapter.layers) lines.push(`  ${l.name} [${l.shape.join(', ')}]`);
          for (const [k, v] of Object.entries(adapter.extra)) lines.push(`  ${k}: ${v}`);
          process.stdout.write(lines.join('\n') + '\n');
        }
      });
  },
};
