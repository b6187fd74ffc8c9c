import type { Command } from 'commander';

/**
 * A CLI command: one file each under cli/, listed in `commands.ts` with its name and summary.
 * `register` gives the command (already named and described) its arguments, flags and action;
 * `argv` lets a command shape its flags (e.g. the method's params). Its own module so that commands
 * import this type and never `commands.ts`, which loads them.
 */
export interface CliCommand {
  register(command: Command, argv: readonly string[]): void | Promise<void>;
}
