import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { AtelierError, wrapError } from '../../core/errors.js';

/** Open a weight file for reading, with the error users expect when it is missing. */
export async function openWeights(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') {
      throw new AtelierError('E_FILE_NOT_FOUND', 'The weight file does not exist', { subject: file, cause: e });
    }
    throw wrapError(e, 'E_WEIGHTS_INVALID', 'The weight file could not be opened', { subject: file });
  }
}

/**
 * Fill `out` from `position`, looping because one read returns at most ~2 GB on Linux. Returns
 * the bytes read: fewer than `out.length` only at the end of the file.
 */
export async function readFully(fh: FileHandle, out: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < out.length) {
    const { bytesRead } = await fh.read(out, done, Math.min(out.length - done, 1 << 30), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/**
 * A buffer of its own (offset 0, so float32 views need no copy) that is not zero-filled first:
 * callers overwrite it completely or fail.
 */
export function uninitialised(bytes: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(bytes);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/**
 * Read a whole model file that a parser takes in one piece (TFLite, frozen graphs, ONNX), refusing
 * a missing file and one larger than `maxBytes` before anything is allocated.
 */
export async function readBoundedModelFile(file: string, maxBytes: number, formatName: string): Promise<Uint8Array> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (e) {
    throw new AtelierError('E_FILE_NOT_FOUND', 'The model file does not exist', { subject: file, cause: e });
  }
  if (size > maxBytes) {
    throw new AtelierError('E_WEIGHTS_CORRUPT', `The file is too large to be ${formatName} Atelier reads`, {
      subject: file,
      expected: `at most ${maxBytes} bytes`,
      received: `${size} bytes`,
    });
  }
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    throw wrapError(e, 'E_WEIGHTS_CORRUPT', 'The model file could not be read', { subject: file });
  }
}
