import { Option } from 'commander';
import { AtelierError } from '../core/errors.js';
import { parseInteger, parsePositiveNumber } from '../core/number-text.js';
import { coerceParam, paramsJsonSchema } from '../core/params.js';
import { methodParamsSchema } from '../core/stylize.js';
import { DEFAULT_METHOD, getMethod } from '../methods/index.js';
import { DEFAULT_VIDEO_LIMITS } from '../video/probe.js';
import { stylizeVideo } from '../video/pipeline.js';
import { TEMPORAL_MODES, type TemporalMode } from '../video/temporal/stabilizer.js';
import type { CliCommand } from './command.js';
import { addParamFlags, collectParams } from './flags.js';
import { createProgressDisplay } from './progress-display.js';
import { methodFromArgv, progressMode } from './shared-flags.js';

/** `atelier video <in> [style...] -o out.mp4 -m METHOD`: a clip restyled with any method. */
export const video: CliCommand = {
  register(command, argv) {
    let def;
    try {
      def = getMethod(methodFromArgv(argv));
    } catch {
      def = getMethod(DEFAULT_METHOD);
    }
    const cmd = command
      .argument('<input>', 'input video (.mp4, .webm, .mov, .mkv, …)')
      .argument('[style...]', 'style image(s)')
      .addOption(new Option('-m, --method <id>', 'method id (see `atelier methods`)').default(DEFAULT_METHOD))
      .requiredOption('-o, --output <file>', 'output: .mp4/.mov (H.264), .webm (VP9), .gif, or a PNG sequence pattern such as frames/out_%05d.png')
      .addOption(new Option('--temporal <mode>', "temporal consistency: none (per frame), blend (mix where the input is still), flow (optical flow; default for most methods)").choices([...TEMPORAL_MODES]))
      .option('--temporal-weight <w>', 'share of the previous result carried into trusted pixels, 0–1 (default: set per method, 0.6 for most)')
      .option('--flow-size <px>', 'long side the optical flow is computed at (default 320)')
      .option('--crf <n>', 'H.264/VP9 quality: lower is better and larger (default 20 for .mp4, 32 for .webm)')
      .option('--resume', 'continue an interrupted run from its last finished frame')
      .option('--frames-dir <dir>', 'also write every stylised frame as a PNG in this directory')
      .option('--mask <file>', 'greyscale mask of where to apply the effect (the same for every frame)')
      .option('--style-weights <list>', 'blend weights of several style images, e.g. 0.7,0.3')
      .option('--max-duration <s>', `refuse clips longer than this many seconds (default ${DEFAULT_VIDEO_LIMITS.maxDuration})`)
      .option('--max-pixels <n>', `refuse clips with more pixels per frame than this (default ${DEFAULT_VIDEO_LIMITS.maxFramePixels})`)
      .option('-f, --force', 'overwrite the output, and discard an interrupted run instead of resuming it')
      .option('-q, --quiet', 'print nothing but errors')
      .option('--json', 'print the result (or error) as JSON on stdout')
      .option('--threads <n>', 'threads to use (default: all cores)');
    cmd.addHelpText('after', `\nThe parameter flags above are those of ${def.id} and the shared controls; \`atelier video --method ID --help\` shows another method's.`);
    addParamFlags(cmd, paramsJsonSchema(methodParamsSchema(def)));
    cmd.action(async (input: string, styles: string[], opts: Record<string, unknown>) => {
      const method = getMethod(String(opts.method));
      const params = collectParams(paramsJsonSchema(methodParamsSchema(method)), opts);
      const display = createProgressDisplay(process.stderr, progressMode(opts));
      const abort = new AbortController();
      const onSigint = () => abort.abort(new Error('interrupted'));
      process.once('SIGINT', onSigint);
      try {
        const styleWeights = opts.styleWeights === undefined ? undefined : (coerceParam({ type: 'array', items: { type: 'number' } }, String(opts.styleWeights)) as number[]);
        const maxDuration = parsePositiveNumber(opts.maxDuration as string | undefined, '--max-duration');
        const maxFramePixels = parseInteger(opts.maxPixels as string | undefined, '--max-pixels');
        const weight = opts.temporalWeight === undefined ? undefined : Number(opts.temporalWeight);
        if (weight !== undefined && !(weight >= 0 && weight <= 1)) {
          throw new AtelierError('E_USAGE', 'Invalid value for --temporal-weight', { expected: 'a number in [0, 1]', received: JSON.stringify(opts.temporalWeight) });
        }
        const crf = opts.crf === undefined ? undefined : Number(opts.crf);
        const flowSize = parseInteger(opts.flowSize as string | undefined, '--flow-size');
        const threads = parseInteger(opts.threads as string | undefined, '--threads');
        const result = await stylizeVideo({
          input,
          output: String(opts.output),
          method,
          ...(styles.length > 0 && { style: styles.length === 1 ? styles[0]! : styles }),
          ...(styleWeights && { styleWeights }),
          ...(typeof opts.mask === 'string' && { mask: opts.mask }),
          params,
          ...(opts.temporal !== undefined && { temporal: opts.temporal as TemporalMode }),
          ...(weight !== undefined && { temporalWeight: weight }),
          ...(flowSize !== undefined && { flowSize }),
          ...(crf !== undefined && { crf }),
          force: Boolean(opts.force),
          resume: Boolean(opts.resume),
          ...(typeof opts.framesDir === 'string' && { framesDir: opts.framesDir }),
          limits: { ...(maxDuration !== undefined && { maxDuration }), ...(maxFramePixels !== undefined && { maxFramePixels }) },
          signal: abort.signal,
          onProgress: display.listener,
          flagStyle: true,
          ...(threads !== undefined && { threads }),
          log: {
            debug() {},
            info: (m) => opts.quiet || opts.json || process.stderr.write(`${m}\n`),
            warn: (m) => opts.quiet || opts.json || process.stderr.write(`warning: ${m}\n`),
          },
        });
        display.finish();
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ok: true, ...result }, null, 2) + '\n');
        } else if (!opts.quiet) {
          const s = result.timings.totalMs / 1000;
          process.stderr.write(
            `wrote ${result.output} (${result.frames} frames at ${result.width}×${result.height}, ${method.id}, --temporal ${result.temporal}, ${s.toFixed(1)} s, ${((result.frames - result.resumedFrames) / s).toFixed(2)} fps)\n`,
          );
        }
      } finally {
        display.finish();
        process.removeListener('SIGINT', onSigint);
      }
    });
  },
};
