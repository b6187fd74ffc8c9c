import type { Command } from 'commander';
import { loadLoraStack } from '../engine/lora/adapter.js';
import { mergeFastStyleLora } from '../engine/lora/merge-fast-style.js';
import type { CliCommand } from './command.js';

/**
 * `atelier lora …`: LoRA adapters made by `atelier train lora` (docs/lora.md).
 *   merge  fold adapters into their base and store the result as a new fast-style model;
 *   info   what an adapter changes and what it was trained on.
 */

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter((s) => s !== '')];

export const loraCommand: CliCommand = {
  register(program: Command) {
    const cmd = program.command('lora').description('LoRA adapters: merge them into a new model, show what one holds');
    cmd
      .command('merge')
      .description('Fold adapters into their base network and store it as a new fast-style model (neural.fast --model NAME)')
      .requiredOption('--base <model>', 'the base network: a published fast-style model (installed) or one made here')
      .requiredOption('--lora <file[:weight]>', 'an adapter file or stored adapter name, with its weight (default 1); repeat to stack', collect)
      .requiredOption('--name <name>', 'name of the new model in the store')
      .option('--out <file>', 'also keep the merged network as this .safetensors file')
      .option('--force', 'replace a stored model of that name')
      .option('--json', 'print a JSON summary')
      .action(async (o: { base: string; lora: string[]; name: string; out?: string; force?: boolean; json?: boolean }) => {
        const r = await mergeFastStyleLora({
          base: o.base,
          lora: o.lora,
          name: o.name,
          ...(o.out && { out: o.out }),
          force: Boolean(o.force),
          warn: (m) => process.stderr.write(`atelier: ${m}\n`),
        });
        if (o.json) process.stdout.write(JSON.stringify({ ok: true, ...r }, null, 2) + '\n');
        else process.stderr.write(`merged ${r.adapters.join(' + ')} into ${o.base} (${r.layers} weights changed): stored as ${o.name} (${r.installed}); run it with --method neural.fast --model ${o.name}\n`);
      });
    cmd
      .command('info')
      .description('What an adapter changes: base, rank, α, layers and parameters, training facts')
      .argument('<file>', 'adapter file or stored adapter name')
      .option('--json', 'print JSON')
      .action(async (file: string, o: { json?: boolean }) => {
        const [{ adapter }] = await loadLoraStack([file]);
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
