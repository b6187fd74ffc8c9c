import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Real `atelier serve` / `atelier worker` child processes for crash and scale-out tests. */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin/atelier.js');
const held = path.join(root, 'test/server/held-atelier.mjs');

export interface Child {
  proc: ChildProcess;
  /** The first stdout line (`listening on URL` or `worker ID ready`). */
  ready: string;
  /** Everything written to stderr so far. */
  log: () => string;
  kill: (signal?: NodeJS.Signals) => Promise<void>;
}

/** Start `atelier ARGS…` and wait (bounded) for its first line on stdout. */
export function startAtelier(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Child> {
  return startNode([bin, ...args], env, timeoutMs);
}

/**
 * The compiled server (`serve DATA_DIR`) or a Redis worker (`worker URL`) with every job held
 * `holdMs` before it runs (held-atelier.mjs), for tests that kill a process mid-job.
 */
export function startHeld(mode: 'serve' | 'worker', where: string, holdMs: number, lockMs = 30_000, workDir?: string): Promise<Child> {
  return startNode([held, mode, where, String(holdMs), String(lockMs), ...(workDir ? [workDir] : [])], {}, 20_000);
}

/** The compiled server with the tint test recipe registered (tint-atelier.mjs), for tests that kill it mid-training. */
export function startTintServer(dataDir: string, photos: string): Promise<Child> {
  return startNode([path.join(root, 'test/server/tint-atelier.mjs'), dataDir, photos], {}, 20_000);
}

function startNode(argv: string[], env: Record<string, string>, timeoutMs: number): Promise<Child> {
  const args = argv.slice(1);
  const proc = spawn(process.execPath, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await exited;
  };
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      void kill();
      reject(new Error(`atelier ${args.join(' ')} printed nothing in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    proc.stdout!.on('data', (d) => {
      out += String(d);
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve({ proc, ready: out.slice(0, nl), log: () => stderr, kill });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`atelier ${args.join(' ')} exited with ${code}; stderr: ${stderr}`));
    });
  });
}

/** POST a reinhard job over real HTTP. */
export async function postJob(base: string, content: Uint8Array, style: Uint8Array, fields: Record<string, string> = {}): Promise<{ id: string }> {
  const form = new FormData();
  form.append('method', 'color.reinhard');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('content', new Blob([content as Uint8Array<ArrayBuffer>]), 'c.png');
  form.append('style', new Blob([style as Uint8Array<ArrayBuffer>]), 's.png');
  const r = await fetch(`${base}/api/jobs`, { method: 'POST', body: form });
  if (r.status !== 201) throw new Error(`POST /api/jobs: ${r.status} ${await r.text()}`);
  return (await r.json()) as { id: string };
}

export async function getJob(base: string, id: string): Promise<Record<string, any>> {
  return (await (await fetch(`${base}/api/jobs/${id}`)).json()) as Record<string, any>;
}

/** Poll until `pred` holds for the job (bounded). */
export async function waitJob(base: string, id: string, pred: (j: Record<string, any>) => boolean, timeoutMs = 30_000): Promise<Record<string, any>> {
  const until = Date.now() + timeoutMs;
  let last: Record<string, any> = {};
  while (Date.now() < until) {
    last = await getJob(base, id);
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${id} never reached the wanted state; last: ${JSON.stringify(last).slice(0, 400)}`);
}
