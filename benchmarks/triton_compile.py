"""Compile the Triton kernels for a GPU without one: registers, spills and shared memory of every configuration.

Triton compiles ahead of time for a named target (its wheel carries ptxas), so on a CPU-only machine this checks
that each kernel of grunet/triton_kernels/ builds for sm_80 (A100) and sm_90 (H100/H200) in every form, variant,
direction and matmul precision, and reads from ptxas what a program costs: registers per thread (255 at most; above
that, or when the compiler gives up, values spill to local memory, which is slow), spilled bytes, and shared
memory. It says nothing about speed.

    python benchmarks/triton_compile.py            # ~4 minutes on 2 cores
"""

import itertools
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.pop("TRITON_INTERPRET", None)  # compiled kernels, not the interpreter's
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.backends.nvidia.compiler import get_ptxas, sm_arch_from_capability  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from grunet import triton_gru  # noqa: E402
from grunet.triton_kernels.on_chip import backward_on_chip, forward_on_chip  # noqa: E402
from grunet.triton_kernels.tiled import backward_tiled, forward_tiled  # noqa: E402

INTS = {"batch", "steps", "H", "gates_stride"}
GRAD_OUTPUT = {"HAS_GRAD_OUTPUT": True}


def compile_kernel(kernel, constexprs: dict, tiles, capability: int, dtype: str = "fp32"):
    """The compiled kernel for a target, with grunet's launch options; every argument not in constexprs is a
    pointer or an int32."""
    signature = {name: ("i32" if name in INTS else f"*{dtype}") for name in kernel.arg_names}
    signature.update({name: "constexpr" for name in constexprs})
    source = ASTSource(
        fn=kernel,
        signature=signature,
        constexprs={(kernel.arg_names.index(name),): value for name, value in constexprs.items()},
    )
    return triton.compile(source, target=GPUTarget("cuda", capability, 32), options=triton_gru.launch_options(tiles))


def resources(compiled, capability: int) -> tuple[int, int, int]:
    """(registers per thread, spilled bytes, shared memory bytes), from ptxas -v on the kernel's PTX."""
    with tempfile.NamedTemporaryFile("w", suffix=".ptx") as file:
        file.write(compiled.asm["ptx"])
        file.flush()
        report = subprocess.run(
            [
                get_ptxas(capability).path,
                f"-arch={sm_arch_from_capability(capability)}",
                "-v",
                file.name,
                "-o",
                os.devnull,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
    registers = int(re.search(r"Used (\d+) registers", report).group(1))
    spills = sum(int(n) for n in re.findall(r"(\d+) bytes spill (?:stores|loads)", report))
    return registers, spills, compiled.metadata.shared


def main() -> None:
    print(
        "| kernel | H | tiles (B, H, warps) | reset_after | reverse | matmul | dtype | sm | registers | spill bytes "
        "| shared bytes |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    # sm_90: every precision and dtype, and the reverse direction (it changes indices only) in float32; sm_80: float32
    variants = [
        (90, "ieee", "fp32", False),
        (90, "ieee", "fp32", True),
        (90, "tf32", "fp32", False),
        (90, "bf16", "fp32", False),
        (90, "ieee", "fp64", False),
        (80, "ieee", "fp32", False),
    ]
    for hidden_size in (16, 20, 64, 256):  # each on-chip tile width, and the tiled kernels
        tiles = triton_gru.tiles_for(800, hidden_size)
        if tiles.on_chip:
            kernels = ((forward_on_chip, {"SAVE": True}), (backward_on_chip, GRAD_OUTPUT))
        else:
            kernels = ((forward_tiled, {}), (backward_tiled, GRAD_OUTPUT))
        for (kernel, extra), reset_after in itertools.product(kernels, (False, True)):
            for capability, matmul, dtype, reverse in variants:
                constexprs = {
                    "RESET_AFTER": reset_after,
                    "REVERSE": reverse,
                    "BLOCK_B": tiles.batch,
                    "BLOCK_H": tiles.hidden,
                    "MATMUL": matmul,
                    "INTERPRETED": False,
                    **extra,
                }
                compiled = compile_kernel(kernel, constexprs, tiles, capability, dtype)
                registers, spills, shared = resources(compiled, capability)
                print(
                    f"| {kernel.fn.__name__} | {hidden_size} | ({tiles.batch}, {tiles.hidden}, {tiles.warps}) "
                    f"| {reset_after} | {reverse} | {matmul} | {dtype} | {capability} | {registers} | {spills} "
                    f"| {shared} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
