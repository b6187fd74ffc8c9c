import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readPth } from '../../../src/engine/weights/pth.js';
import { tempDir } from '../../helpers/fixtures.js';
import { savedTensor, savedView, stateDict, writeTorchLegacy, writeTorchZip } from '../../helpers/torch-save.js';

/**
 * Cross-checks against PyTorch itself (Debian's python3-torch), when it is installed: files
 * torch.save wrote must read here as torch sees them, and files the test writer makes must load
 * in torch (so the torch-save mimic used by the other tests is faithful). Skips without torch.
 */
function findTorchPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}

const python = findTorchPython();
const dir = tempDir('atelier-pth-torch-');
afterAll(() => dir.cleanup());

const SCRIPT = String.raw`
import json, sys, collections, torch
out = sys.argv[1]
g = torch.Generator().manual_seed(0)
base = torch.randn(3, 4, generator=g)
sd = collections.OrderedDict()
sd['conv.weight'] = torch.randn(4, 3, 3, 3, generator=g)
sd['conv.bias'] = torch.randn(4, generator=g)
sd['transposed'] = base.t()
sd['sliced'] = base[1:, 1:3]
sd['strided'] = base[:, ::2]
sd['expanded'] = base[2].expand(2, 4)
sd['half'] = torch.randn(2, 3, generator=g).half()
sd['half_t'] = torch.randn(3, 2, generator=g).half().t()
sd['bf16'] = torch.randn(5, generator=g).bfloat16()
sd['double'] = torch.randn(3, generator=g).double()
sd['bn.num_batches_tracked'] = torch.tensor(12345)
sd['param'] = torch.nn.Parameter(torch.randn(2, generator=g))
bn = torch.nn.BatchNorm2d(3)
for k, v in bn.state_dict().items(): sd['bn2.' + k] = v
ckpt = {'state_dict': sd, 'epoch': 7, 'optimizer': {'state': {}, 'param_groups': [{'lr': 1e-4, 'params': [0, 1]}]}}
torch.save(ckpt, out + '/torch-zip.pt')
torch.save(sd, out + '/torch-legacy.pth', _use_new_zipfile_serialization=False)
expected = {k: {'shape': list(v.shape), 'values': v.detach().double().flatten().tolist()} for k, v in sd.items()}
# files the test writer made, as torch sees them
mimic = {}
for name in ['mimic-zip.pt', 'mimic-legacy.pth', 'mimic-py2.pth']:
    loaded = torch.load(out + '/' + name)
    mimic[name] = {k: {'shape': list(v.shape), 'values': v.double().flatten().tolist(), 'dtype': str(v.dtype)} for k, v in loaded.items()}
json.dump({'expected': expected, 'mimic': mimic}, open(out + '/expected.json', 'w'))
`;

describe.skipIf(!python)('.pth reader against files PyTorch wrote (python3-torch)', () => {
  it('reads torch.save output tensor for tensor, and torch loads the test writer’s files', async () => {
    const base = savedTensor(Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2), [3, 4]);
    const mimic = stateDict([
      ['w', savedTensor(Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)), [2, 3, 2, 2])],
      ['t', savedView(base, 0, [4, 3], [1, 4])],
      ['s', savedView(base, 5, [2, 2], [4, 1])],
      ['h', savedTensor([0.5, -3, 1024], [3], 'F16')],
      ['n', savedTensor([42], [], 'I64')],
    ]);
    await writeTorchZip(dir.file('mimic-zip.pt'), mimic);
    writeTorchLegacy(dir.file('mimic-legacy.pth'), mimic);
    writeTorchLegacy(dir.file('mimic-py2.pth'), mimic, { py2Strings: true });
    writeFileSync(dir.file('make.py'), SCRIPT);
    const r = spawnSync(python!, [dir.file('make.py'), dir.dir], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { expected, mimic: seenByTorch } = JSON.parse(readFileSync(dir.file('expected.json'), 'utf8')) as {
      expected: Record<string, { shape: number[]; values: number[] }>;
      mimic: Record<string, Record<string, { shape: number[]; values: number[] }>>;
    };

    for (const file of ['torch-zip.pt', 'torch-legacy.pth']) {
      const m = await readPth(dir.file(file));
      expect([...m.keys()], file).toEqual(Object.keys(expected));
      for (const [name, e] of Object.entries(expected)) {
        const t = m.get(name)!;
        expect(t.shape, `${file} ${name}`).toEqual(e.shape);
        expect(Array.from(t.data), `${file} ${name}`).toEqual(e.values.map((v) => Math.fround(v)));
      }
    }
    const ours = await readPth(dir.file('mimic-zip.pt'));
    for (const [file, tensors] of Object.entries(seenByTorch)) {
      expect(Object.keys(tensors), file).toEqual([...ours.keys()]);
      for (const [name, e] of Object.entries(tensors)) {
        expect(e.shape, `${file} ${name}`).toEqual(ours.get(name)!.shape);
        expect(e.values.map((v) => Math.fround(v)), `${file} ${name}`).toEqual(Array.from(ours.get(name)!.data));
      }
    }
  });
});
