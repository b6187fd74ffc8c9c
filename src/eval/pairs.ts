import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { AtelierError } from '../core/errors.js';

/**
 * The pairs file `atelier eval` and `atelier compare` read: the format of the project's dev set
 * (`pairs.json`), i.e. an object of named groups, each a list of pairs —
 *   { "artistic": [{ "content": "content/a.jpg", "style": "style/b.jpg" }],
 *     "photoreal": [{ "content": …, "style": …, "content_mask": …, "style_mask": … }],
 *     "video": [{ "content_video": "video/pan.mp4", "style": …, "mode": "artistic" }] }
 * — or a bare list of pairs (one group named "pairs"). Paths are relative to the file. Keys other
 * than lists (e.g. "about") are ignored. camelCase spellings (contentMask, styleMask) are accepted.
 */

const pairSchema = z
  .object({
    content: z.string().min(1).optional(),
    content_video: z.string().min(1).optional(),
    style: z.string().min(1).optional(),
    content_mask: z.string().min(1).optional(),
    style_mask: z.string().min(1).optional(),
    contentMask: z.string().min(1).optional(),
    styleMask: z.string().min(1).optional(),
    mode: z.string().optional(),
    id: z.string().min(1).optional(),
  })
  .refine((p) => p.content !== undefined || p.content_video !== undefined, { message: 'a pair needs "content" (or "content_video")' });

export interface EvalPair {
  /** Stable, file-name-safe id: `group/content-style`, made unique with a counter if needed. */
  id: string;
  group: string;
  kind: 'image' | 'video';
  /** Absolute paths. */
  content: string;
  style?: string;
  contentMask?: string;
  styleMask?: string;
}

export interface PairsFile {
  file: string;
  pairs: EvalPair[];
}

function stem(p: string): string {
  return path.basename(p).replace(/\.[^.]+$/, '');
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

export async function readPairsFile(file: string): Promise<PairsFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new AtelierError('E_FILE_NOT_FOUND', `Cannot read the pairs file ${JSON.stringify(file)}`, {
      expected: 'a JSON file listing content/style pairs',
      received: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'a path that does not exist' : String((e as Error).message),
      cause: e,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new AtelierError('E_PARAM', `The pairs file ${JSON.stringify(file)} is not valid JSON`, { received: (e as Error).message, cause: e });
  }
  const groups: [string, unknown[]][] = Array.isArray(json)
    ? [['pairs', json]]
    : json !== null && typeof json === 'object'
      ? Object.entries(json as Record<string, unknown>).filter((e): e is [string, unknown[]] => Array.isArray(e[1]))
      : [];
  if (groups.length === 0) {
    throw new AtelierError('E_PARAM', `The pairs file ${JSON.stringify(file)} lists no pairs`, {
      expected: 'a list of {content, style} objects, or an object of such lists (groups)',
      received: Array.isArray(json) ? 'an empty list' : typeof json,
    });
  }
  const dir = path.dirname(path.resolve(file));
  const seen = new Map<string, number>();
  const pairs: EvalPair[] = [];
  for (const [group, list] of groups) {
    list.forEach((raw, index) => {
      const parsed = pairSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new AtelierError('E_PARAM', `Pair ${index + 1} of "${group}" in ${JSON.stringify(file)} is malformed`, {
          expected: issue.path.length > 0 ? `"${issue.path.join('.')}" to be a file path` : issue.message,
          received: JSON.stringify(raw)?.slice(0, 120) ?? 'nothing',
        });
      }
      const p = parsed.data;
      const kind = p.content === undefined ? 'video' : 'image';
      const content = path.resolve(dir, (p.content ?? p.content_video)!);
      const base = `${safe(group)}/${safe(p.id ?? [stem(content), p.style ? stem(p.style) : 'nostyle'].join('-'))}`;
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      const contentMask = p.content_mask ?? p.contentMask;
      const styleMask = p.style_mask ?? p.styleMask;
      pairs.push({
        id: n === 1 ? base : `${base}-${n}`,
        group,
        kind,
        content,
        ...(p.style !== undefined && { style: path.resolve(dir, p.style) }),
        ...(contentMask !== undefined && { contentMask: path.resolve(dir, contentMask) }),
        ...(styleMask !== undefined && { styleMask: path.resolve(dir, styleMask) }),
      });
    });
  }
  return { file: path.resolve(file), pairs };
}
