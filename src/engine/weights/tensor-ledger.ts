import { AtelierError } from '../../core/errors.js';

/**
 * Reads a checkpoint's tensors by name while keeping account: which names a network took, which
 * it needed but the file lacks, which have the wrong shape, and which the file holds that nobody
 * took. `finish` refuses the checkpoint when any of those lists is not empty (apart from names
 * the caller knowingly skips), so a file of another model or version never half-loads.
 *
 * It works on names and shapes alone when given no data (`data` returns empty arrays), which is
 * how the published checkpoints' name lists are checked without their gigabytes.
 */
export class TensorLedger {
  readonly used: string[] = [];
  readonly skipped: string[] = [];
  private readonly missing: string[] = [];
  private readonly wrongShape: string[] = [];

  constructor(
    private readonly shapes: Map<string, number[]>,
    private readonly data: (name: string) => Float32Array,
    /** The model, for messages ("The CLIP checkpoint …"). */
    private readonly model: string,
    private readonly subject: string,
  ) {}

  has(name: string): boolean {
    return this.shapes.has(name);
  }

  /** The shape of a tensor the network cannot do without (it sizes the network): fails now when absent. */
  shape(name: string, what: string): number[] {
    const s = this.shapes.get(name);
    if (!s) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The ${this.model} checkpoint has no ${what}`, {
        subject: this.subject,
        expected: `a tensor named ${name}`,
        hint: 'the file lacks this part, or belongs to another model',
      });
    }
    return s;
  }

  /**
   * The values of `name`, which must have `shape` (or the same values in `alternative`, e.g. a
   * 1×1 conv kernel saved as a linear weight); an empty array when missing (reported by `finish`).
   */
  take(name: string, shape: number[], alternative?: number[]): Float32Array {
    const s = this.shapes.get(name);
    if (!s) {
      this.missing.push(name);
      return new Float32Array(0);
    }
    const same = (want: number[]) =>
      s.length === want.length ? s.every((d, i) => d === want[i]) : s.reduce((a, b) => a * b, 1) === 1 && want.reduce((a, b) => a * b, 1) === 1;
    if (!same(shape) && !(alternative && same(alternative))) this.wrongShape.push(`${name} is [${s.join(', ')}], expected [${shape.join(', ')}]`);
    this.used.push(name);
    return this.data(name);
  }

  /** How many consecutive indices `${head}N.` the names have. */
  count(head: string): number {
    let n = 0;
    const names = [...this.shapes.keys()];
    while (names.some((k) => k.startsWith(`${head}${n}.`))) n++;
    return n;
  }

  /** Refuse the checkpoint if anything was missing, mis-shaped, or left over (and not `skippable`). */
  finish(skippable: (name: string) => boolean, part: string): void {
    const usedSet = new Set(this.used);
    const unused: string[] = [];
    for (const name of this.shapes.keys()) {
      if (usedSet.has(name)) continue;
      if (skippable(name)) this.skipped.push(name);
      else unused.push(name);
    }
    const list = (names: string[]) => `${names.slice(0, 8).join('; ')}${names.length > 8 ? `; … ${names.length - 8} more` : ''}`;
    if (this.missing.length > 0 || this.wrongShape.length > 0 || unused.length > 0) {
      const parts = [
        this.missing.length > 0 && `${this.missing.length} missing (${list(this.missing)})`,
        this.wrongShape.length > 0 && `${this.wrongShape.length} mis-shaped (${list(this.wrongShape)})`,
        unused.length > 0 && `${unused.length} not used by the ${part} (${list(unused)})`,
      ].filter(Boolean);
      throw new AtelierError('E_WEIGHTS_INVALID', `The ${this.model} checkpoint does not match the ${this.model} architecture`, {
        subject: this.subject,
        expected: `every tensor of the ${part}, with its published shape, and no others`,
        received: parts.join('; '),
        hint: 'the file is truncated, from another model, or a variant Atelier does not build; check the file',
      });
    }
  }
}
