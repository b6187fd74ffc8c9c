import { statSync } from 'node:fs';
import { AtelierError } from '../../core/errors.js';
import type { TfGraph, TfNode } from '../weights/graphdef.js';
import { readSafetensors, readSafetensorsHeader } from '../weights/safetensors.js';
import type { TensorMap } from '../weights/tensor.js';
import { MULTISTYLE } from './magenta-multistyle.js';

/**
 * New styles for Magenta's 26-style network (Dumoulin et al. 2017, section 3: "a new style can be
 * added by learning only its γ and β"). Each of the graph's 18 conditional instance norms computes
 * its scale as `style_num · gamma` and its shift as `style_num · beta`, with `gamma` and `beta`
 * constant tables of 26 × C (one row per style). Adding styles appends rows to every table, widens
 * the two `[26, 1]` reshapes of `style_num` that feed them, and widens `style_num` itself; the rest
 * of the frozen graph is untouched, so the published 26 styles compute exactly as before and any
 * convex mix over all 26 + k rows works as the paper's interpolation does.
 *
 * An added style is stored as a trained model of kind 'multistyle' (engine/store/trained.ts): one
 * safetensors file with one tensor per table, named like the table, holding that style's row
 * (C values), so 2 × channels per norm layer in all.
 */

export const MULTISTYLE_TRAINED_KIND = 'multistyle';
const FORMAT = 'atelier-multistyle-style-1';
const TABLE = /\/InstanceNorm\/(gamma|beta)$/;
const STYLE_RESHAPE = /\/InstanceNorm\/Reshape(_1)?\/shape$/;

export interface MultistyleTable {
  name: string;
  channels: number;
  /** The published rows, 26 × channels. */
  rows: Float32Array;
}

function tensorOf(n: TfNode) {
  const a = n.attrs.value;
  if (a?.kind !== 'tensor') throw new AtelierError('E_WEIGHTS_CORRUPT', `Const ${n.name} has no tensor value`);
  return a.value;
}

/** The conditional-norm tables (gamma and beta of each norm), in graph order. */
export function multistyleTables(tf: TfGraph): MultistyleTable[] {
  const tables = tf.nodes
    .filter((n) => n.op === 'Const' && TABLE.test(n.name))
    .map((n) => {
      const t = tensorOf(n);
      return { name: n.name, channels: t.shape[1]!, rows: Float32Array.from(t.values) };
    });
  if (tables.length === 0 || tables.some((t) => t.rows.length !== MULTISTYLE.styles * t.channels)) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'Not the 26-style network: its conditional-norm tables are missing or mis-shaped', {
      subject: tf.file,
      expected: `Const …/InstanceNorm/gamma and …/beta of shape [${MULTISTYLE.styles}, C]`,
      received: `${tables.length} tables`,
    });
  }
  return tables;
}

/** One style's rows (by table name): published style `style`, or the mean of all 26 when undefined. */
export function styleRows(tables: MultistyleTable[], style?: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const t of tables) {
    const row = new Float32Array(t.channels);
    for (let s = 0; s < MULTISTYLE.styles; s++) {
      if (style !== undefined && s !== style) continue;
      const w = style === undefined ? 1 / MULTISTYLE.styles : 1;
      for (let c = 0; c < t.channels; c++) row[c]! += w * t.rows[s * t.channels + c]!;
    }
    out.set(t.name, row);
  }
  return out;
}

/** The graph with `added` styles appended as rows 26, 27, … of every table (a copy; `tf` is unchanged). */
export function extendMultistyle(tf: TfGraph, added: Map<string, Float32Array>[]): TfGraph {
  if (added.length === 0) return tf;
  const tables = new Map(multistyleTables(tf).map((t) => [t.name, t]));
  const total = MULTISTYLE.styles + added.length;
  const nodes = tf.nodes.map((n): TfNode => {
    if (n.op === 'Const' && tables.has(n.name)) {
      const t = tables.get(n.name)!;
      const values = new Float32Array(total * t.channels);
      values.set(t.rows);
      added.forEach((rows, k) => {
        const row = rows.get(n.name);
        if (!row || row.length !== t.channels) {
          throw new AtelierError('E_WEIGHTS_INVALID', `An added style lacks the row of ${n.name}`, { expected: `${t.channels} values`, received: row ? `${row.length}` : 'none' });
        }
        values.set(row, (MULTISTYLE.styles + k) * t.channels);
      });
      return { ...n, attrs: { ...n.attrs, value: { kind: 'tensor', value: { ...tensorOf(n), shape: [total, t.channels], values } } } };
    }
    if (n.op === 'Const' && STYLE_RESHAPE.test(n.name)) {
      const t = tensorOf(n);
      if (t.values[0] === MULTISTYLE.styles) return { ...n, attrs: { ...n.attrs, value: { kind: 'tensor', value: { ...t, values: Float32Array.from([total, ...Array.from(t.values).slice(1)]) } } } };
    }
    if (n.op === 'Placeholder' && n.name === MULTISTYLE.styleInput) return { ...n, attrs: { ...n.attrs, shape: { kind: 'shape', value: [total] } } };
    return n;
  });
  return { file: tf.file, nodes };
}

export function addedStyleMetadata(iterations: number, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, format: FORMAT, iterations: String(iterations) };
}

/** An added style's rows from its file (checked to be one). */
export async function readAddedStyle(file: string): Promise<{ rows: Map<string, Float32Array>; stamp: string }> {
  const { metadata } = await readSafetensorsHeader(file);
  if (metadata.format !== FORMAT) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'Not a style trained for the 26-style network (atelier train multistyle-style)', { subject: file, expected: `format ${FORMAT}`, received: metadata.format ?? 'no format' });
  }
  const tensors: TensorMap = await readSafetensors(file);
  return { rows: new Map([...tensors].map(([k, t]) => [k, t.data as Float32Array])), stamp: String(statSync(file).mtimeMs) };
}
