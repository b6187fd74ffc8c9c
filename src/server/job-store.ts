import { randomUUID } from 'node:crypto';
import { mkdirSync, promises as fs } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AtelierError } from '../core/errors.js';
import { BlobStore } from './blob-store.js';
import type { InputSlot, JobError, JobKind, JobRecord, JobStatus } from './job-record.js';

/**
 * Jobs and their results, recorded so that nothing finished is lost and nothing queued is
 * forgotten: one SQLite table (better-sqlite3, WAL) for the records, and the images in a
 * content-addressed blob store (an image uploaded twice is stored once; a blob goes when the last
 * job naming it is deleted). Jobs from before the blob store keep their directory under `jobs/`.
 * Nothing a client sends ever becomes a path.
 */

export type { InputSlot, JobError, JobKind, JobRecord, JobStatus } from './job-record.js';
export const FINISHED: readonly JobStatus[] = ['done', 'failed', 'cancelled'];

/** A job with a `video` input restyles a clip (its result is an MP4); any other, one image (PNG). */
export function isVideoJob(job: { inputs: readonly InputSlot[] }): boolean {
  return job.inputs.includes('video');
}

export function isTrainingJob(job: { kind: JobKind }): boolean {
  return job.kind === 'training';
}

export interface NewJob {
  /** 'training' for training jobs; image and video jobs are told apart by their inputs. */
  kind?: 'training';
  method: string;
  params: Record<string, unknown>;
  styleWeights?: number[];
  files: Partial<Record<InputSlot, Uint8Array>>;
  rerunOf?: string;
}

interface Row {
  id: string;
  seq: number;
  method: string;
  params: string;
  style_weights: string | null;
  inputs: string;
  status: JobStatus;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  progress: number;
  error: string | null;
  resolved_params: string | null;
  meta: string | null;
  timings: string | null;
  rerun_of: string | null;
  input_blobs: string | null;
  result_blob: string | null;
  kind: string | null;
}

const ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SLOT_PATTERN = /^(content|video|mask|styleMask|style-\d{1,2}|extra-[a-zA-Z][a-zA-Z0-9]{0,31})$/;
const RESULT_FILE = 'result.png';

export function isJobId(id: string): boolean {
  return ID_PATTERN.test(id);
}

function unknownJob(id: string): AtelierError {
  return new AtelierError('E_JOB', 'No such job', {
    expected: 'the id of a job this server created (`GET /api/jobs` lists them)',
    received: JSON.stringify(id.length > 60 ? id.slice(0, 57) + '…' : id),
    subject: 'id',
  });
}

export interface RetentionPolicy {
  /** Finished jobs older than this many days are deleted. */
  keepDays?: number;
  /** Oldest finished jobs are deleted until the stored images take at most this many bytes. */
  maxDiskBytes?: number;
}

export class JobStore {
  private readonly db: Database.Database;
  private readonly jobsDir: string;
  readonly blobs: BlobStore;

  constructor(readonly dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.jobsDir = path.join(dataDir, 'jobs');
    mkdirSync(this.jobsDir, { recursive: true });
    this.db = new Database(path.join(dataDir, 'atelier.db'));
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode is durable against a process crash (not an OS crash), which is our case.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        method TEXT NOT NULL,
        params TEXT NOT NULL,
        style_weights TEXT,
        inputs TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        progress REAL NOT NULL DEFAULT 0,
        error TEXT,
        resolved_params TEXT,
        meta TEXT,
        timings TEXT,
        rerun_of TEXT
      );
      CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
    `);
    // Databases from before the blob store gain its columns; their jobs keep their directories.
    const columns = new Set((this.db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[]).map((c) => c.name));
    if (!columns.has('input_blobs')) this.db.exec('ALTER TABLE jobs ADD COLUMN input_blobs TEXT');
    if (!columns.has('result_blob')) this.db.exec('ALTER TABLE jobs ADD COLUMN result_blob TEXT');
    // Training jobs say so; image and video jobs (and every older row) leave it NULL.
    if (!columns.has('kind')) this.db.exec('ALTER TABLE jobs ADD COLUMN kind TEXT');
    this.blobs = new BlobStore(dataDir);
  }

  close(): void {
    this.db.close();
  }

  /** Store the input images first, then the record: a recorded job always has its inputs. */
  async create(job: NewJob): Promise<JobRecord> {
    const id = randomUUID();
    const slots = Object.keys(job.files) as InputSlot[];
    const hashes: Record<string, string> = {};
    for (const slot of slots) {
      if (!SLOT_PATTERN.test(slot)) throw new AtelierError('E_INTERNAL', `Bad input slot ${slot}`);
      hashes[slot] = await this.blobs.put(job.files[slot]!);
    }
    this.db
      .prepare(
        `INSERT INTO jobs (id, method, params, style_weights, inputs, status, created_at, rerun_of, input_blobs, kind)
         VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
      )
      .run(
        id,
        job.method,
        JSON.stringify(job.params),
        job.styleWeights ? JSON.stringify(job.styleWeights) : null,
        JSON.stringify(slots),
        new Date().toISOString(),
        job.rerunOf ?? null,
        JSON.stringify(hashes),
        job.kind ?? null,
      );
    return this.get(id);
  }

  /** The job, or E_JOB (404) for an id this server never made. */
  get(id: string): JobRecord {
    return fromRow(this.row(id));
  }

  find(id: string): JobRecord | undefined {
    try {
      return this.get(id);
    } catch {
      return undefined;
    }
  }

  /** Newest first. */
  list(offset: number, limit: number): { jobs: JobRecord[]; total: number } {
    const rows = this.db.prepare('SELECT * FROM jobs ORDER BY seq DESC LIMIT ? OFFSET ?').all(limit, offset) as Row[];
    const { n } = this.db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number };
    return { jobs: rows.map(fromRow), total: n };
  }

  /** Ids with this status, oldest first (the order they were submitted). */
  idsWithStatus(status: JobStatus): string[] {
    return (this.db.prepare('SELECT id FROM jobs WHERE status = ? ORDER BY seq').all(status) as { id: string }[]).map((r) => r.id);
  }

  countByStatus(): Record<JobStatus, number> {
    const out: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
    for (const r of this.db.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status').all() as { status: JobStatus; n: number }[]) {
      out[r.status] = r.n;
    }
    return out;
  }

  /** Unfinished training jobs (queued or running) that will install a model under this name. */
  trainingsOfModel(model: string): string[] {
    return (
      this.db
        .prepare(`SELECT id FROM jobs WHERE kind = 'training' AND status IN ('queued', 'running') AND json_extract(params, '$.model') = ? ORDER BY seq`)
        .all(model) as { id: string }[]
    ).map((r) => r.id);
  }

  /**
   * A cancelled or failed training job goes back to the queue with its folder (and so its last
   * checkpoint) kept, optionally with a new iteration count: a resume, not a new job.
   */
  requeueTraining(id: string, params: Record<string, unknown>): boolean {
    return (
      this.db
        .prepare(`UPDATE jobs SET status = 'queued', params = ?, error = NULL, finished_at = NULL, progress = 0 WHERE id = ? AND kind = 'training' AND status IN ('cancelled', 'failed')`)
        .run(JSON.stringify(params), id).changes > 0
    );
  }

  /** Jobs a dead process left running go back to the queue, to run again from the start. */
  requeueInterrupted(): number {
    return this.db.prepare(`UPDATE jobs SET status = 'queued', progress = 0 WHERE status = 'running'`).run().changes;
  }

  /** queued → running; false if the job is no longer queued (cancelled meanwhile). */
  markRunning(id: string): boolean {
    return (
      this.db
        .prepare(`UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1, progress = 0 WHERE id = ? AND status IN ('queued', 'running')`)
        .run(new Date().toISOString(), id).changes > 0
    );
  }

  setProgress(id: string, fraction: number): void {
    this.db.prepare(`UPDATE jobs SET progress = ? WHERE id = ? AND status = 'running'`).run(fraction, id);
  }

  /** Result blob first, then the record: a `done` job always has its result. */
  async markDone(id: string, png: Uint8Array, outcome: { params: Record<string, unknown>; meta: Record<string, unknown>; timings: Record<string, number> }): Promise<boolean> {
    // A finished job keeps the result it has (a cancelled one has none).
    if (FINISHED.includes(this.get(id).status)) return false;
    const hash = await this.blobs.put(png);
    return (
      this.db
        .prepare(
          `UPDATE jobs SET status = 'done', progress = 1, finished_at = ?, resolved_params = ?, meta = ?, timings = ?, error = NULL, result_blob = ?
           WHERE id = ? AND status IN ('queued', 'running')`,
        )
        .run(new Date().toISOString(), JSON.stringify(outcome.params), JSON.stringify(outcome.meta), JSON.stringify(outcome.timings), hash, id).changes > 0
    );
  }

  /** Record a failure or cancellation; a job already finished stays as it is. */
  markFinished(id: string, status: 'failed' | 'cancelled', error: JobError): boolean {
    return (
      this.db
        .prepare(`UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status IN ('queued', 'running')`)
        .run(status, new Date().toISOString(), JSON.stringify(error), id).changes > 0
    );
  }

  private row(id: string): Row {
    const row = isJobId(id) ? (this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined) : undefined;
    if (!row) throw unknownJob(id);
    return row;
  }

  /** Where an input's bytes lie on this machine (its blob, or its file in a job folder from before the blob store). */
  inputPath(id: string, slot: InputSlot): string {
    const hash = parseJson<Record<string, string>>(this.row(id).input_blobs)?.[slot];
    return hash ? this.blobs.pathOf(hash) : path.join(this.dirOf(id), slot);
  }

  async readInput(id: string, slot: InputSlot): Promise<Buffer> {
    return fs.readFile(this.inputPath(id, slot));
  }

  async readInputs(job: JobRecord): Promise<Partial<Record<InputSlot, Buffer>>> {
    const out: Partial<Record<InputSlot, Buffer>> = {};
    for (const slot of job.inputs) out[slot] = await this.readInput(job.id, slot);
    return out;
  }

  async readResult(id: string): Promise<Buffer> {
    const hash = this.row(id).result_blob;
    return hash ? this.blobs.read(hash) : fs.readFile(path.join(this.dirOf(id), RESULT_FILE));
  }

  /** The blobs a job names (inputs and result). */
  private hashesOf(row: Row): string[] {
    return [...Object.values(parseJson<Record<string, string>>(row.input_blobs) ?? {}), ...(row.result_blob ? [row.result_blob] : [])];
  }

  /** Every blob some job still names. */
  referencedBlobs(): Set<string> {
    const out = new Set<string>();
    for (const row of this.db.prepare('SELECT input_blobs, result_blob FROM jobs').all() as Row[]) for (const h of this.hashesOf(row)) out.add(h);
    return out;
  }

  /**
   * Delete a finished job: its record, then each of its blobs no other job names, then its
   * directory if it is from before the blob store. Unfinished jobs are cancelled, not deleted.
   */
  async delete(id: string): Promise<{ freedBytes: number }> {
    const row = this.row(id);
    if (!FINISHED.includes(row.status)) {
      throw new AtelierError('E_JOB', `Job ${id} is ${row.status}`, { expected: 'a finished job (done, failed or cancelled)', hint: 'cancel it first: DELETE stops a queued or running job, a second DELETE removes it' });
    }
    const hashes = this.hashesOf(row);
    this.db.prepare('DELETE FROM jobs WHERE id = ?').run(id);
    let freedBytes = 0;
    const stillNamed = this.db.prepare(`SELECT 1 FROM jobs WHERE result_blob = ? OR instr(input_blobs, ?) > 0 LIMIT 1`);
    for (const h of new Set(hashes)) {
      if (stillNamed.get(h, h)) continue;
      const st = await fs.stat(this.blobs.pathOf(h)).catch(() => undefined);
      await fs.rm(this.blobs.pathOf(h), { force: true });
      freedBytes += st?.size ?? 0;
    }
    await fs.rm(this.dirOf(id), { recursive: true, force: true });
    return { freedBytes };
  }

  /**
   * Retention: delete finished jobs older than `keepDays`, then the oldest finished ones until the
   * blobs fit in `maxDiskBytes`; then remove blobs nothing names (older than `graceMs`: a job being
   * created right now writes its blobs before its record). Queued and running jobs are never touched.
   */
  async applyRetention(policy: RetentionPolicy, graceMs = 10 * 60_000): Promise<{ deletedJobs: number; freedBytes: number }> {
    let deletedJobs = 0;
    let freedBytes = 0;
    const finished = `status IN ('done', 'failed', 'cancelled')`;
    if (policy.keepDays !== undefined) {
      const cutoff = new Date(Date.now() - policy.keepDays * 86_400_000).toISOString();
      const old = this.db.prepare(`SELECT id FROM jobs WHERE ${finished} AND COALESCE(finished_at, created_at) < ? ORDER BY seq`).all(cutoff) as { id: string }[];
      for (const { id } of old) {
        freedBytes += (await this.delete(id)).freedBytes;
        deletedJobs++;
      }
    }
    const swept = await this.blobs.sweep(this.referencedBlobs(), graceMs);
    freedBytes += swept.bytes;
    if (policy.maxDiskBytes !== undefined) {
      let used = (await this.blobs.list()).reduce((a, b) => a + b.bytes, 0);
      const oldest = this.db.prepare(`SELECT id FROM jobs WHERE ${finished} ORDER BY seq LIMIT 1`);
      while (used > policy.maxDiskBytes) {
        const next = oldest.get() as { id: string } | undefined;
        if (!next) break;
        const { freedBytes: f } = await this.delete(next.id);
        used -= f;
        freedBytes += f;
        deletedJobs++;
      }
    }
    return { deletedJobs, freedBytes };
  }

  /** Bytes the stored images take. */
  async diskBytes(): Promise<number> {
    return (await this.blobs.list()).reduce((a, b) => a + b.bytes, 0);
  }

  /** The job's own folder (a video job keeps its resumable frames and its latest-frame preview there). */
  jobDir(id: string): string {
    return this.dirOf(id);
  }

  private dirOf(id: string): string {
    if (!isJobId(id)) throw unknownJob(id);
    return path.join(this.jobsDir, id);
  }
}

function parseJson<T>(s: string | null): T | undefined {
  return s === null ? undefined : (JSON.parse(s) as T);
}

function fromRow(r: Row): JobRecord {
  return {
    id: r.id,
    kind: r.kind === 'training' ? 'training' : r.inputs.includes('"video"') ? 'video' : 'image',
    method: r.method,
    params: JSON.parse(r.params) as Record<string, unknown>,
    ...(r.style_weights !== null && { styleWeights: parseJson<number[]>(r.style_weights)! }),
    inputs: JSON.parse(r.inputs) as InputSlot[],
    status: r.status,
    attempts: r.attempts,
    createdAt: r.created_at,
    ...(r.started_at !== null && { startedAt: r.started_at }),
    ...(r.finished_at !== null && { finishedAt: r.finished_at }),
    progress: r.progress,
    ...(r.error !== null && { error: parseJson<JobError>(r.error)! }),
    ...(r.resolved_params !== null && { resolvedParams: parseJson<Record<string, unknown>>(r.resolved_params)! }),
    ...(r.meta !== null && { meta: parseJson<Record<string, unknown>>(r.meta)! }),
    ...(r.timings !== null && { timings: parseJson<Record<string, number>>(r.timings)! }),
    ...(r.rerun_of !== null && { rerunOf: r.rerun_of }),
  };
}
