"""What the PyTorch peers of the UNet benches (unet_torch.py, diffusion_lora_torch.py) share: the
reference UNet (test/engine/diffusion/unet_reference.py, written from the latent-diffusion paper,
loaded by path) and this process's peak resident memory."""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('unet_reference', os.path.join(HERE, '..', 'test', 'engine', 'diffusion', 'unet_reference.py'))
unet_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(unet_reference)


def peak_mb():
    """VmHWM of this process, in MB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')
