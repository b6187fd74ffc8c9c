import type { CliCommand } from './command.js';

/**
 * One `atelier` command as `--help` lists it, and how to load it. A command's module (and what it
 * imports: the method registry, the trainers and their engine, the evaluation's metrics, the model
 * store) loads only when that command runs or its help is shown, so each start pays for one
 * command at most (`node bench/cli-startup.mjs`).
 */
export interface CommandEntry {
  name: string;
  description: string;
  load(): Promise<CliCommand>;
}

/** Every `atelier` command, in the order `--help` lists them. */
export const commands: readonly CommandEntry[] = [
  {
    name: 'transfer',
    description: 'Restyle <content> after [style...] with a method.',
    load: async () => (await import('./transfer.js')).transfer,
  },
  {
    name: 'video',
    description: 'Restyle a video clip frame by frame with any method, with temporal consistency (needs ffmpeg).',
    load: async () => (await import('./video.js')).video,
  },
  {
    name: 'methods',
    description: 'List every method with its family, inputs, parameters and weights status, or show one in full.',
    load: async () => (await import('./methods.js')).methodsCommand,
  },
  {
    name: 'info',
    description: 'Describe an image: format, size, channels, bit depth, colour space, alpha, orientation, and its mean colour.',
    load: async () => (await import('./info.js')).info,
  },
  {
    name: 'models',
    description: 'Manage published models: list, info, pull (download or copy from a mirror, verify), import a file fetched by hand, rm, verify.',
    load: async () => (await import('./models.js')).modelsCommand,
  },
  {
    name: 'texture',
    description: 'Synthesise a larger texture from a sample by image quilting (Efros & Freeman 2001).',
    load: async () => (await import('./texture.js')).texture,
  },
  {
    name: 'eval',
    description: 'Run a method over every pair of a pairs file and score it: results.json and an HTML report with thumbnails, metrics and plots.',
    load: async () => (await import('./eval.js')).evalCommand,
  },
  {
    name: 'compare',
    description: 'Run several methods on the same pairs: side-by-side contact sheets plus the evaluation report.',
    load: async () => (await import('./compare.js')).compareCommand,
  },
  {
    name: 'serve',
    description: 'Run the HTTP API and the web studio. Jobs persist in the data directory and survive restarts.',
    load: async () => (await import('./serve.js')).serve,
  },
  {
    name: 'worker',
    description: 'Run jobs from a Redis (BullMQ) queue fed by `atelier serve --redis`; start as many as you like, on any machine.',
    load: async () => (await import('./worker.js')).worker,
  },
  {
    name: 'train',
    description: 'Train or fine-tune a network on your images',
    load: async () => (await import('./train.js')).train,
  },
  {
    name: 'lora',
    description: 'LoRA adapters: merge them into a new model, show what one holds',
    load: async () => (await import('./lora.js')).loraCommand,
  },
];

/**
 * The command a command line runs: its first word, or the one after `help` (`atelier help
 * transfer`); undefined for `atelier --help`, `atelier --version` or nothing at all.
 */
export function commandNamed(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}
