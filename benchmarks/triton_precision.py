"""Error of the Triton kernel's matmul precisions against float64: one GRU layer, values and gradients.

For each precision of the recurrent products ('highest' IEEE float32, 'high' TF32 operands, 'medium' bfloat16
operands; see grunet.triton_gru) and each variant, one layer runs forward and backward in float32 through the
kernel; the reference is grunet.fast in float64 (held to the reference equations to 1e-10 by tests/test_fast.py)
on the same inputs. Printed: the largest error of the output and of h_n, and over the six gradients the largest of
max|error| / max|reference|; first, for comparison, grunet.fast's own float32 loop on the CPU (no kernel).

Only the kernel's products change precision here (the GEMMs around it stay float32), so the figures are the
kernel's own. Without a GPU (or with TRITON_INTERPRET=1) the kernels run in Triton's interpreter on the CPU, with
the operands rounded to nearest as the tensor cores read them; on a GPU, on the tensor cores themselves.

    python benchmarks/triton_precision.py     # ~13 minutes in the interpreter on 2 cores; seconds on a GPU
"""

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
ON_GPU = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1"
if not ON_GPU:
    os.environ["TRITON_INTERPRET"] = "1"  # before triton's import

from grunet import devices, triton_gru  # noqa: E402
from grunet.fast import gru_layer  # noqa: E402

# (B, T, I, H): the tutorial's first layer (on chip), and a wider one (tiled over H)
SHAPES = [(800, 50, 1, 20), (64, 50, 32, 128)]


def values_and_grads(args, reset_after):
    leaves = [a.detach().clone().requires_grad_() for a in args]
    output, h_n = gru_layer(*leaves, reset_after, False)
    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(output.shape, generator=generator, dtype=torch.float64).to(output)
    grads = torch.autograd.grad((output * weight).sum() + h_n.sum(), leaves)
    return [t.detach().double().cpu() for t in (output, h_n, *grads)]


def main() -> None:
    device = "cuda" if ON_GPU else "cpu"
    devices.triton_runs = lambda x: x.dtype == torch.float32  # float32 to the kernel (CPU: interpreted), float64 not
    print(
        f"device: {torch.cuda.get_device_name(0) if ON_GPU else 'CPU, Triton interpreter'}; torch {torch.__version__}\n"
    )
    print("| B | T | I | H | reset_after | precision | output max error | h_n max error | gradients max rel. error |")
    print("|---|---|---|---|---|---|---|---|---|")
    for batch, steps, input_size, hidden_size in SHAPES:
        generator = torch.Generator().manual_seed(0)
        bound = hidden_size**-0.5  # torch.nn.GRU's initialisation range
        shapes = [
            (steps, batch, input_size),
            (batch, hidden_size),
            (3 * hidden_size, input_size),
            (3 * hidden_size, hidden_size),
            (3 * hidden_size,),
            (3 * hidden_size,),
        ]
        args = [(torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) for shape in shapes]
        args = [a if index < 2 else a * bound for index, a in enumerate(args)]  # x, h0 in [-1, 1]
        args = [a.float().double() for a in args]  # the float32 inputs, exactly
        for reset_after in (False, True):
            want = values_and_grads(args, reset_after)  # float64: grunet.fast's CPU loops
            for precision, mode in (("CPU loop", None), ("highest", "ieee"), ("high", "tf32"), ("medium", "bf16")):
                if mode is None:  # for comparison: grunet.fast's float32 loop on the CPU, no kernel
                    devices.triton_runs = lambda x: False
                    got = values_and_grads([a.float() for a in args], reset_after)
                    devices.triton_runs = lambda x: x.dtype == torch.float32
                else:
                    triton_gru.matmul_precision = lambda dtype, mode=mode: mode
                    got = values_and_grads([a.float().to(device) for a in args], reset_after)
                errors = [(g - w).abs().max().item() for g, w in zip(got, want)]
                relative = max(e / w.abs().max().item() for e, w in zip(errors[2:], want[2:]))
                print(
                    f"| {batch} | {steps} | {input_size} | {hidden_size} | {reset_after} | {precision} "
                    f"| {errors[0]:.1e} | {errors[1]:.1e} | {relative:.1e} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
