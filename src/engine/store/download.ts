import { createHash } from 'node:crypto';
import { open, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { AtelierError } from '../../core/errors.js';
import { hashFileInto } from './checksum.js';

/**
 * One resumable HTTP(S) download into a `.partial` file. A previous partial for the same URL is
 * continued with a Range request (If-Range guards against the file having changed upstream);
 * a cut connection leaves the partial in place for the next attempt; bytes beyond the expected
 * size, a web page where a weight file was expected, or a server that offers a different size
 * than the manifest stop the transfer. The caller verifies and installs the result.
 */

export interface DownloadRequest {
  url: string;
  /** Where the bytes accumulate; `${partial}.json` remembers the URL and validators. */
  partial: string;
  /** From the manifest, when known: the transfer stops at the first sign of a different file. */
  expectedSize: number | null;
  signal?: AbortSignal;
  /** Called as bytes arrive (throttled by the caller). `total` is unknown when the server does not say. */
  onBytes?: (received: number, total: number | undefined) => void;
  /** Name of the model, for messages. */
  subject: string;
}

export interface DownloadResult {
  size: number;
  sha256: string;
  /** Bytes that were already on disk from an earlier, interrupted attempt. */
  resumedFrom: number;
}

interface PartialMeta {
  url: string;
  etag?: string;
  lastModified?: string;
}

export async function downloadToPartial(req: DownloadRequest): Promise<DownloadResult> {
  const metaFile = `${req.partial}.json`;
  let existing = await sizeOf(req.partial);
  const meta = existing > 0 ? await readMeta(metaFile) : undefined;
  if (existing > 0 && (meta?.url !== req.url || (req.expectedSize !== null && existing > req.expectedSize))) {
    // a partial of another URL or an impossible length cannot be continued
    await discardPartial(req.partial);
    existing = 0;
  }
  const hash = createHash('sha256');
  if (existing > 0) await hashFileInto(hash, req.partial);
  if (existing > 0 && existing === req.expectedSize) return { size: existing, sha256: hash.digest('hex'), resumedFrom: existing };
  // ends the transfer on the caller's signal or on our own decision to stop reading
  const stop = new AbortController();
  req.signal?.addEventListener('abort', () => stop.abort(req.signal!.reason), { once: true });
  if (req.signal?.aborted) stop.abort(req.signal.reason);

  const headers: Record<string, string> = { 'user-agent': 'atelier (model store)' };
  if (existing > 0) {
    headers.range = `bytes=${existing}-`;
    const validator = meta?.etag ?? meta?.lastModified;
    if (validator) headers['if-range'] = validator;
  }
  let response: Response;
  try {
    response = await fetch(req.url, { headers, redirect: 'follow', signal: stop.signal });
  } catch (e) {
    if (req.signal?.aborted) throw new AtelierError('E_ABORTED', `The download of ${req.subject} was cancelled`, { cause: e });
    throw downloadError(req, e, `could not connect to ${hostOf(req.url)}`);
  }

  let resumedFrom = existing;
  let total: number | undefined;
  if (response.status === 206 && existing > 0) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
    if (!range || Number(range[1]) !== existing) {
      await response.body?.cancel();
      await discardPartial(req.partial);
      throw new AtelierError('E_DOWNLOAD', `The server answered the resume request of ${req.subject} with a different byte range`, {
        subject: req.url,
        hint: 'run the same command again to download from the start',
      });
    }
    total = range[3] === '*' ? undefined : Number(range[3]);
  } else if (response.status === 200) {
    // with a partial on disk: the server ignored the Range, or the file changed (If-Range): start over
    resumedFrom = 0;
    const length = response.headers.get('content-length');
    total = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
  } else if (response.status === 416 && existing > 0) {
    await response.body?.cancel();
    await discardPartial(req.partial);
    throw new AtelierError('E_DOWNLOAD', `The server refused to resume the download of ${req.subject} (HTTP 416)`, {
      subject: req.url,
      hint: 'the partial download was discarded: run the same command again to download from the start',
    });
  } else {
    await response.body?.cancel();
    throw new AtelierError('E_DOWNLOAD', `Downloading ${req.subject} failed: HTTP ${response.status}${response.statusText ? ' ' + response.statusText : ''}`, {
      subject: req.url,
      hint:
        response.status === 404 || response.status === 410
          ? 'the file is no longer at this address: fetch it by hand from its page and run `atelier models import`'
          : 'try again later, or fetch the file by hand and run `atelier models import`',
    });
  }
  const type = response.headers.get('content-type') ?? '';
  if (/^text\/html/i.test(type)) {
    await response.body?.cancel();
    throw new AtelierError('E_DOWNLOAD', `The server sent a web page instead of the weight file for ${req.subject}`, {
      subject: req.url,
      hint: 'the host may ask for a confirmation or a login: open the address in a browser, save the file, and run `atelier models import`',
    });
  }
  if (total !== undefined && req.expectedSize !== null && total !== req.expectedSize) {
    await response.body?.cancel();
    await discardPartial(req.partial);
    throw new AtelierError('E_WEIGHTS_INVALID', `The server offers a different file for ${req.subject} than the manifest describes`, {
      subject: req.url,
      expected: `${req.expectedSize} bytes`,
      received: `${total} bytes`,
      hint: 'the published file may have changed: report it, or fetch a copy you trust and run `atelier models import`',
    });
  }

  // Read the body from now on without pause: a stream that errors (connection cut) drops the
  // chunks still queued in it, which would lose bytes a resume could have kept.
  const incoming = new ChunkQueue(response.body);
  const restart = resumedFrom === 0;
  const finalHash = restart && existing > 0 ? createHash('sha256') : hash; // the old bytes were hashed already
  let received = resumedFrom;
  let fh: FileHandle | undefined;
  try {
    await writeFile(metaFile, JSON.stringify({
      url: req.url,
      ...(response.headers.get('etag') && { etag: response.headers.get('etag')! }),
      ...(response.headers.get('last-modified') && { lastModified: response.headers.get('last-modified')! }),
    } satisfies PartialMeta));
    fh = await open(req.partial, restart ? 'w' : 'a');
    req.onBytes?.(received, total);
    const limit = total ?? req.expectedSize ?? undefined;
    for (let chunk = await incoming.next(); chunk; chunk = await incoming.next()) {
      if (limit !== undefined && received + chunk.length > limit) {
        throw new AtelierError('E_WEIGHTS_INVALID', `The server sent more bytes for ${req.subject} than announced`, {
          subject: req.url,
          expected: `${limit} bytes`,
        });
      }
      await fh.write(chunk);
      finalHash.update(chunk);
      received += chunk.length;
      req.onBytes?.(received, total);
    }
  } catch (e) {
    stop.abort();
    await fh?.close();
    if (e instanceof AtelierError) {
      await discardPartial(req.partial);
      throw e;
    }
    if (req.signal?.aborted) {
      throw new AtelierError('E_ABORTED', `The download of ${req.subject} was cancelled`, {
        hint: `${received} bytes are kept: run the same command again to resume`,
        cause: e,
      });
    }
    throw downloadError(req, e, `the connection broke after ${received}${total ? ` of ${total}` : ''} bytes`, true);
  }
  await fh.close();
  if (total !== undefined && received !== total) {
    throw new AtelierError('E_DOWNLOAD', `The download of ${req.subject} ended early: ${received} of ${total} bytes`, {
      subject: req.url,
      hint: 'run the same command again to resume',
    });
  }
  return { size: received, sha256: finalHash.digest('hex'), resumedFrom };
}

/** Pulls a body stream continuously into memory; `next()` yields chunks, then undefined, or throws its error. */
class ChunkQueue {
  private readonly chunks: Uint8Array[] = [];
  private done = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(body: ReadableStream<Uint8Array> | null) {
    if (!body) {
      this.failure = new Error('the response has no body');
      this.done = true;
      return;
    }
    void (async () => {
      try {
        for await (const chunk of body as AsyncIterable<Uint8Array>) {
          this.chunks.push(chunk);
          this.wake?.();
        }
      } catch (e) {
        this.failure = e;
      } finally {
        this.done = true;
        this.wake?.();
      }
    })();
  }

  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) return chunk;
      if (this.done) {
        if (this.failure !== undefined) throw this.failure;
        return undefined;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

/** Remove a partial download and its notes. */
export async function discardPartial(partial: string): Promise<void> {
  await rm(partial, { force: true });
  await rm(`${partial}.json`, { force: true });
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

async function readMeta(file: string): Promise<PartialMeta | undefined> {
  try {
    const m = JSON.parse(await readFile(file, 'utf8')) as PartialMeta;
    return typeof m.url === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function downloadError(req: DownloadRequest, e: unknown, what: string, resumable = false): AtelierError {
  const reason = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
  return new AtelierError('E_DOWNLOAD', `Downloading ${req.subject} failed: ${what} (${reason})`, {
    subject: req.url,
    hint: resumable ? 'run the same command again to resume' : 'check the network connection and try again',
    cause: e,
  });
}
