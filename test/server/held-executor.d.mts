import type { Executor } from '../../src/server/jobs/executor.js';

export declare class HeldExecutor implements Executor {
  constructor(inner: Executor, holdMs?: number);
  holdMs: number;
  run: Executor['run'];
  close(): Promise<void>;
}
