import type { Command } from 'commander';
import { parseInteger } from '../core/number-text.js';
import { paramsJsonSchema } from '../core/params.js';
import type { Logger } from '../core/registry.js';
import { listTrainers, train as runTrainer } from '../train/index.js';
import type { CliCommand } from './command.js';
import { addParamFlags, collectParams } from './flags.js';

/**
 * `atelier train TRAINER …`: train or fine-tune a network on the user's images through the
 * library's `train()` (train/). One subcommand per registered trainer; its flags come from the
 * trainer's params schema, beside the loop's own (iterations, output, checkpoints, resume).
 */

interface LoopFlags {
  iterations: string;
  out?: string;
  resume?: boolean;
  saveEvery: string;
  logEvery: string;
  seed: string;
  threads?: string;
  quiet?: boolean;
  json?: boolean;
}

const LOOP_FLAGS = new Set(['iterations', 'out', 'resume', 'saveEvery', 'logEvery', 'seed', 'threads', 'quiet', 'json']);

/** One value as a line: losses with 4 significant figures, the learning rate in exponent form. */
function formatValue(key: string, v: number): string {
  if (key === 'learningRate') return `lr ${v.toExponential(2)}`;
  if (key === 'seconds') return `${v.toFixed(2)} s/it`;
  if (key === 'gradientNorm') return `|grad| ${v.toFixed(2)}`;
  return `${key} ${v.toPrecision(4)}`;
}

export const train: CliCommand = {
  register(cmd: Command) {
    for (const def of listTrainers()) {
      const sub = cmd
        .command(def.id)
        .description(def.summary)
        .option('--iterations <n>', 'total iterations (a resumed run continues up to this number)', '1000')
        .option('--out <dir>', `folder for checkpoints, losses.json, the loss-curve plot and the weights (default ${def.id}-training)`)
        .option('--resume', 'continue from <out>/last.safetensors (weights, optimiser state, iteration)')
        .option('--save-every <n>', 'save the checkpoint every n iterations', '50')
        .option('--log-every <n>', 'print the losses every n iterations', '10')
        .option('--seed <n>', 'seed for initial weights and samples', '1')
        .option('--threads <n>', 'ONNX Runtime threads (default 2)')
        .option('-q, --quiet', 'print nothing but errors')
        .option('--json', 'print a JSON summary on stdout');
      const schema = paramsJsonSchema(def.params);
      addParamFlags(sub, schema);
      sub.action(async (opts: LoopFlags & Record<string, unknown>) => {
        const loud = !opts.quiet && !opts.json;
        const say = (line: string) => {
          if (loud) process.stderr.write(line + '\n');
        };
        const log: Logger = { debug() {}, info: say, warn: (m) => process.stderr.write(`atelier: ${m}\n`) };
        const iterations = parseInteger(opts.iterations, '--iterations')!;
        const logEvery = parseInteger(opts.logEvery, '--log-every')!;
        const params = collectParams(schema, Object.fromEntries(Object.entries(opts).filter(([k]) => !LOOP_FLAGS.has(k))));
        const result = await runTrainer(def.id, {
          out: opts.out ?? `${def.id}-training`,
          iterations,
          params,
          resume: Boolean(opts.resume),
          saveEvery: parseInteger(opts.saveEvery, '--save-every'),
          seed: parseInteger(opts.seed, '--seed', { min: 0 }),
          threads: parseInteger(opts.threads, '--threads'),
          flagStyle: true,
          log,
          onProgress: (e) => {
            if (e.type !== 'step' || !e.values || !(e.step % logEvery === 0 || e.step === 1)) return;
            const values = Object.entries(e.values).map(([k, v]) => formatValue(k, v));
            say(`iter ${String(e.step).padStart(String(e.total).length)}/${e.total}  ${values.join('  ')}`);
          },
        });
        if (result.validation) {
          const line = (l: Record<string, number>) => Object.entries(l).map(([k, v]) => formatValue(k, v)).join('  ');
          say(`${def.id}: validation before: ${line(result.validation.before)}`);
          say(`${def.id}: validation after:  ${line(result.validation.after)}`);
        }
        if (opts.json) process.stdout.write(JSON.stringify({ ok: true, ...result }, null, 2) + '\n');
        else say(`${def.id}: done after ${result.iterations} iterations; weights ${result.weights}${result.usage ? ` (use with ${result.usage})` : ''}, loss curve ${result.plot}`);
      });
    }
  },
};
