import { Command, CommanderError } from 'commander';
import { AtelierError, exitCodeFor, isAtelierError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { commandNamed, commands } from './commands.js';

/**
 * The `atelier` command line. Returns the exit status: 0 success, 2 usage errors (bad flags,
 * parameters, unknown method), 1 runtime errors (unreadable images, failed writes, …).
 */
export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const program = new Command('atelier')
    .description('Image and video style transfer: classic, patch-based, neural and photorealistic methods')
    .version(VERSION)
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      // Commander's own usage errors are reported below, as AtelierErrors, once.
      outputError: () => {},
    });
  try {
    // Every command is listed; only the one run gets its flags and action (and loads its module).
    const running = commandNamed(argv);
    for (const entry of commands) {
      const command = program.command(entry.name).description(entry.description);
      if (entry.name === running) await (await entry.load()).register(command, argv);
    }
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return report(new AtelierError('E_USAGE', e.message.replace(/^error: /, ''), { hint: 'run `atelier --help` or `atelier <command> --help`' }), json);
    }
    return report(e, json);
  }
}

function report(e: unknown, json: boolean): number {
  const code = exitCodeFor(e);
  if (json) {
    const body = isAtelierError(e) ? e.toJSON() : { code: 'E_INTERNAL', message: String(e instanceof Error ? e.message : e) };
    process.stdout.write(JSON.stringify({ ok: false, error: body }, null, 2) + '\n');
  } else if (isAtelierError(e)) {
    process.stderr.write(`atelier: ${e.message} [${e.code}]\n`);
    if (process.env.ATELIER_DEBUG && e.cause) process.stderr.write(`cause: ${String((e.cause as Error).stack ?? e.cause)}\n`);
  } else {
    process.stderr.write(`atelier: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.stderr.write('This is a bug in Atelier: please report it with the command that caused it.\n');
  }
  return code;
}
