import { AtelierError } from '../../core/errors.js';

/**
 * The order in which to rebuild a foreign graph's operators: only those the wanted outputs depend
 * on, each after its producers. A cycle (a value that depends on itself) and a value nothing
 * produces are refused with the operators involved, never papered over.
 */

export interface OrderNode {
  /** Where the operator is, for messages: "operator 12 (CONV_2D)" or "node \"conv1/Relu\" (Relu)". */
  label: string;
  /** The input values this operator actually reads (unused quantisation ranges left out). */
  inputs: string[];
  outputs: string[];
}

export function executionOrder(nodes: readonly OrderNode[], wanted: readonly string[], sources: ReadonlySet<string>, file: string): number[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  const state = new Uint8Array(nodes.length); // 0 new, 1 on the current path, 2 done
  const order: number[] = [];
  const path: number[] = [];
  // Iterative depth-first search (graphs of thousands of nodes would overflow a recursive one).
  const visit = (value: string, reader: string) => {
    if (sources.has(value)) return;
    const start = producer.get(value);
    if (start === undefined) {
      throw new AtelierError('E_WEIGHTS_CORRUPT', `The graph reads a value nothing produces: "${value}"`, {
        subject: file,
        expected: 'every input of an operator produced by another operator, a constant or a graph input',
        received: `${reader} reads "${value}"`,
      });
    }
    const stack: [number, number][] = [[start, 0]];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [i, k] = top;
      if (k === 0) {
        if (state[i] === 2) {
          stack.pop();
          continue;
        }
        if (state[i] === 1 && path.at(-1) !== i) {
          const cycle = path.slice(path.indexOf(i)).map((j) => nodes[j]!.label);
          throw new AtelierError('E_WEIGHTS_CORRUPT', 'The graph has a cycle', {
            subject: file,
            expected: 'an acyclic graph (each value computed from earlier ones)',
            received: `${[...cycle, nodes[i]!.label].join(' → ')}`,
          });
        }
        state[i] = 1;
        path.push(i);
      }
      const inputs = nodes[i]!.inputs;
      if (k < inputs.length) {
        top[1] = k + 1;
        const value = inputs[k]!;
        if (sources.has(value)) continue;
        const p = producer.get(value);
        if (p === undefined) {
          throw new AtelierError('E_WEIGHTS_CORRUPT', `The graph reads a value nothing produces: "${value}"`, {
            subject: file,
            expected: 'every input of an operator produced by another operator, a constant or a graph input',
            received: `${nodes[i]!.label} reads "${value}"`,
          });
        }
        if (state[p] === 1) {
          const cycle = path.slice(path.indexOf(p)).map((j) => nodes[j]!.label);
          throw new AtelierError('E_WEIGHTS_CORRUPT', 'The graph has a cycle', {
            subject: file,
            expected: 'an acyclic graph (each value computed from earlier ones)',
            received: `${[...cycle, nodes[p]!.label].join(' → ')}`,
          });
        }
        if (state[p] === 0) stack.push([p, 0]);
        continue;
      }
      state[i] = 2;
      path.pop();
      order.push(i);
      stack.pop();
    }
  };
  for (const w of wanted) visit(w, 'the graph output');
  return order;
}
