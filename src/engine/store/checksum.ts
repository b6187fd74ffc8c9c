import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Feed a file's bytes (from `start`) into a running hash: resumed downloads hash what they have first. */
export async function hashFileInto(hash: Hash, file: string, start = 0): Promise<number> {
  let bytes = 0;
  for await (const chunk of createReadStream(file, { start, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return bytes;
}

/** SHA-256 of a file as lowercase hex, and its length. */
export async function sha256File(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const size = await hashFileInto(hash, file);
  return { sha256: hash.digest('hex'), size };
}
