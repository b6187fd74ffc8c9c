import { spawn, type ChildProcess } from 'node:child_process';
import { AtelierError } from '../core/errors.js';

/**
 * The one place that starts Debian's `ffmpeg` and `ffprobe`. A missing program becomes
 * E_DEPENDENCY with the command that installs it; a failure keeps the program's last words.
 */

export type VideoTool = 'ffmpeg' | 'ffprobe';

export const FFMPEG_INSTALL_HINT = 'install ffmpeg: `apt-get install ffmpeg` on Debian/Ubuntu (scripts/system-deps.sh does it), `brew install ffmpeg` on macOS';

export function missingTool(program: VideoTool, cause?: unknown): AtelierError {
  return new AtelierError('E_DEPENDENCY', `Video needs the ${program} program, which is not installed or not on PATH`, {
    hint: FFMPEG_INSTALL_HINT,
    ...(cause !== undefined && { cause }),
  });
}

/** The last lines ffmpeg wrote to stderr (its error), kept short. */
export function lastWords(stderr: string, lines = 3): string {
  return stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-lines).join(' | ');
}

export interface ToolProcess {
  child: ChildProcess;
  /** Everything written to stderr so far (bounded to the last 64 KiB). */
  stderr(): string;
  /** Resolves with the exit code (or null when killed); rejects with E_DEPENDENCY when missing. */
  exited: Promise<number | null>;
}

export function startTool(program: VideoTool, args: string[], stdio: { stdin: boolean; stdout: boolean }): ToolProcess {
  const child = spawn(program, args, { stdio: [stdio.stdin ? 'pipe' : 'ignore', stdio.stdout ? 'pipe' : 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    err += s;
    if (err.length > 65536) err = err.slice(-32768);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? missingTool(program, e) : e));
    child.once('close', (code) => resolve(code));
  });
  // Callers await `exited` when they care; this keeps a spawn failure from being unhandled meanwhile.
  exited.catch(() => undefined);
  return { child, stderr: () => err, exited };
}

/** Run to the end and return stdout; a non-zero exit is E_IMAGE_DECODE with ffmpeg's own words. */
export async function runTool(program: VideoTool, args: string[], subject: string): Promise<string> {
  const p = startTool(program, args, { stdin: false, stdout: true });
  const chunks: Buffer[] = [];
  p.child.stdout!.on('data', (b: Buffer) => chunks.push(b));
  const code = await p.exited;
  if (code !== 0) {
    throw new AtelierError('E_IMAGE_DECODE', `${program} could not read ${JSON.stringify(subject)}`, {
      expected: 'a video file ffmpeg can decode',
      received: lastWords(p.stderr()) || `exit status ${code}`,
      hint: 'check that the file is a complete video',
      subject,
    });
  }
  return Buffer.concat(chunks).toString('utf8');
}
