export interface ChaosResult {
  mode: 'embedded' | 'redis';
  jobs: number;
  acknowledged: number;
  unacknowledgedPosts: number;
  storedJobs: number;
  done: number;
  lost: number;
  killed: { server: number; worker: number };
  rerun: number;
  violations: string[];
}

export declare function runChaos(options?: { jobs?: number; kills?: number; mode?: 'embedded' | 'redis'; seed?: number; side?: number }): Promise<ChaosResult>;
