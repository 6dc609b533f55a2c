"""Small layers the architectures share."""

import torch
import torch.nn.functional as F
from torch import nn

_SMALL = 4096


class _ELUFunction(torch.autograd.Function):
    """ELU's forward through exp (not expm1) and its backward as one kernel from the output (aten.elu_backward
    with is_result): the autograd of the where/exp/clamp formula alone took ~7 kernels and was slower than
    the forward (benchmarks/RESULTS.md "ELU", benchmarks/elu_speed.py). Written with setup_context so torch.func (the compiled step's
    grad, ensembles' vmap) can transform it."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, torch.exp(torch.clamp(x, max=0.0)) - 1.0)

    @staticmethod
    def setup_context(ctx: torch.autograd.function.FunctionCtx, inputs: tuple, output: torch.Tensor) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.elu_backward(grad, 1.0, 1.0, 1.0, True, y)  # grad * (y + 1) where y <= 0


class ELU(nn.Module):
    """ELU (alpha 1) computed as where(x > 0, x, exp(min(x, 0)) - 1), its gradient from the output.

    The same function as nn.ELU, but F.elu goes through expm1, which is over ten times slower than exp on
    the AVX-512 CPUs we train on (../shared/perf-notes.md); the toy MLPs spend most of their time there.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() <= _SMALL:  # expm1's cost is per element; below this, the Function's Python backward costs more
            return F.elu(x)
        if torch.compiler.is_compiling():
            # traced, the formula's backward is derived and fused into one kernel by inductor anyway, and a graph
            # holding an autograd.Function is not kept by AOTAutograd's cache: every warm start of gan-1d's
            # compiled step redid its AOT trace (first call 4.1-4.5 -> 1.9-2.1 s, Zen 5, AVX-512)
            return _ELUFunction.forward(x)
        return _ELUFunction.apply(x)


class Scale(nn.Module):
    """Multiplies by a fixed factor and adds a fixed shift: lets a generator's linear output start at the data's
    scale and centre (toy data spans +-4, the 1-D target sits at 4, while a fresh MLP's output is ~0.1, and Adam
    moves each weight ~lr a step whatever the scale). No parameters: state dicts are the plain MLP's."""

    def __init__(self, factor: float, shift: float = 0.0) -> None:
        super().__init__()
        self.factor, self.shift = float(factor), float(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor + self.shift if self.shift else x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}" + (f", shift={self.shift:g}" if self.shift else "")
