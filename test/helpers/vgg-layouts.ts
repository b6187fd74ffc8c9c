/**
 * The published tensor names and shapes of the VGG-19 weight files Atelier loads, so tests can
 * generate files that mimic them exactly.
 *
 * - torchvision `vgg19-dcbb9e9d.pth` (https://download.pytorch.org/models/vgg19-dcbb9e9d.pth):
 *   torchvision/models/vgg.py builds `features` from cfg "E" = [64, 64, M, 128, 128, M, 256×4, M,
 *   512×4, M, 512×4, M] as Conv2d(3×3, padding 1) + ReLU pairs and MaxPool2d, so the convolutions
 *   sit at Sequential indices 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34; then
 *   `classifier` = Linear(512·7·7, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout,
 *   Linear(4096, 1000) → indices 0, 3, 6.
 * - pytorch-AdaIN `vgg_normalised.pth` (naoto0804/pytorch-AdaIN, net.py `vgg`, also
 *   CAP-VSTNet models/VGG.py `build_vgg`): nn.Sequential of Conv2d(3, 3, 1×1) first, then
 *   ReflectionPad2d + Conv2d(3×3) + ReLU triples with MaxPool2d(ceil_mode) between blocks, up to
 *   relu5_4; state_dict keys are the Sequential indices `0.weight` (3,3,1,1), `2.weight`
 *   (64,3,3,3), `5.weight`, `9.weight`, … `51.weight`.
 */

export interface LayerShape {
  name: string;
  shape: number[];
}

const VGG19_CHANNELS: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'];

/** torchvision VGG-19 state dict, in module order; `classifierScale` shrinks the FC layers' widths (1 = published). */
export function torchvisionVgg19Layout(classifierScale = 1): LayerShape[] {
  const out: LayerShape[] = [];
  let index = 0;
  let inC = 3;
  for (const c of VGG19_CHANNELS) {
    if (c === 'M') {
      index += 1;
      continue;
    }
    out.push({ name: `features.${index}.weight`, shape: [c, inC, 3, 3] }, { name: `features.${index}.bias`, shape: [c] });
    inC = c;
    index += 2; // Conv2d, ReLU
  }
  const hidden = Math.round(4096 / classifierScale);
  const flat = Math.round((512 * 7 * 7) / classifierScale);
  out.push(
    { name: 'classifier.0.weight', shape: [hidden, flat] },
    { name: 'classifier.0.bias', shape: [hidden] },
    { name: 'classifier.3.weight', shape: [hidden, hidden] },
    { name: 'classifier.3.bias', shape: [hidden] },
    { name: 'classifier.6.weight', shape: [1000, hidden] },
    { name: 'classifier.6.bias', shape: [1000] },
  );
  return out;
}

/** pytorch-AdaIN / CAP-VSTNet normalised VGG-19 (`vgg_normalised.pth`), in module order. */
export function normalisedVgg19Layout(): LayerShape[] {
  const out: LayerShape[] = [
    { name: '0.weight', shape: [3, 3, 1, 1] },
    { name: '0.bias', shape: [3] },
  ];
  let index = 1;
  let inC = 3;
  for (const c of VGG19_CHANNELS.slice(0, -1)) {
    if (c === 'M') {
      index += 1;
      continue;
    }
    // ReflectionPad2d at `index`, Conv2d at index + 1, ReLU at index + 2
    out.push({ name: `${index + 1}.weight`, shape: [c, inC, 3, 3] }, { name: `${index + 1}.bias`, shape: [c] });
    inC = c;
    index += 3;
  }
  return out;
}
