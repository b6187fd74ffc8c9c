import { isVideoJob, type JobRecord, type JobStore } from '../job-store.js';
import type { Executor } from './executor.js';
import type { JobEvents } from './job-events.js';
import { recordFailure, recordRunning, recordSuccess, refuseFinished, type JobQueue } from './job-queue.js';
import { errorToJson, taskOf } from './task.js';

/** How long close() waits for stopped jobs to wind down (a training's last checkpoint save). */
const CLOSE_WAIT_MS = 30_000;

/**
 * The default queue: jobs wait in submission order in this process and run `concurrency` at a
 * time on the executor. The JobStore is the truth; the in-memory list is only its queued ids, so a
 * restart rebuilds it from SQLite.
 */
export class EmbeddedQueue implements JobQueue {
  readonly kind = 'embedded';
  private readonly waiting: string[] = [];
  private readonly running = new Map<string, AbortController>();
  private closed = false;
  private readonly runs = new Set<Promise<void>>();

  constructor(
    private readonly store: JobStore,
    private readonly events: JobEvents,
    private readonly executor: Executor,
    private readonly concurrency: number,
    private readonly limits: { maxPixels?: number; threads?: number } = {},
    /** The jobs this queue runs, when it shares the store with another queue (SplitQueue). */
    private readonly accepts: (job: JobRecord) => boolean = () => true,
  ) {}

  async start(): Promise<void> {
    this.store.requeueInterrupted();
    this.waiting.push(...this.store.idsWithStatus('queued').filter((id) => this.accepts(this.store.get(id))));
    this.pump();
  }

  async submit(job: JobRecord): Promise<void> {
    this.waiting.push(job.id);
    this.pump();
  }

  async cancel(id: string): Promise<'cancelled' | 'cancelling'> {
    const job = this.store.get(id);
    refuseFinished(job);
    const controller = this.running.get(id);
    if (controller) {
      controller.abort(new Error('cancelled by the client'));
      return 'cancelling';
    }
    const at = this.waiting.indexOf(id);
    if (at >= 0) this.waiting.splice(at, 1);
    recordFailure(this.store, this.events, id, { code: 'E_ABORTED', message: 'The job was cancelled before it started.' });
    return 'cancelled';
  }

  async stats(): Promise<{ waiting: number; running: number }> {
    return { waiting: this.waiting.length, running: this.running.size };
  }

  /**
   * Stop taking work and stop the running jobs (a training saves its checkpoint as it stops).
   * They stay `running` in the store and run again on the next start, resuming what they saved.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.waiting.length = 0;
    for (const controller of this.running.values()) controller.abort(new Error('the server is stopping'));
    let timer: NodeJS.Timeout | undefined;
    const bounded = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    await Promise.race([Promise.allSettled(this.runs), bounded]);
    clearTimeout(timer);
    await this.executor.close();
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.concurrency && this.waiting.length > 0) {
      const run = this.runOne(this.waiting.shift()!);
      this.runs.add(run);
      void run.finally(() => this.runs.delete(run));
    }
  }

  private async runOne(id: string): Promise<void> {
    if (!recordRunning(this.store, this.events, id)) return; // cancelled while it waited
    const controller = new AbortController();
    this.running.set(id, controller);
    try {
      const job = this.store.get(id);
      // A video job reads its clip from where the store keeps it: only the small inputs travel with the task.
      const video = isVideoJob(job);
      const inputs = await this.store.readInputs(video ? { ...job, inputs: job.inputs.filter((s) => s !== 'video') } : job);
      const where = { workDir: this.store.jobDir(id), ...(video && { clipPath: this.store.inputPath(id, 'video') }) };
      const result = await this.executor.run(taskOf(job, inputs, { ...this.limits, ...where }), controller.signal, (event) => this.events.progress(id, event));
      if (!this.closed) await recordSuccess(this.store, this.events, id, result);
    } catch (e) {
      // A run cut short by close() is left `running`, to be run again after the restart.
      if (!this.closed) recordFailure(this.store, this.events, id, errorToJson(e));
    } finally {
      this.running.delete(id);
      this.pump();
    }
  }
}
