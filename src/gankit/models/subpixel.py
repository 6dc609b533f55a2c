"""Nearest upsampling x2 followed by a 3x3 convolution, computed as four 2x2 convolutions on the small input.

With U the nearest x2 upsampling of x, output pixel (2i+a, 2j+b) of conv3x3(U) (padding 1) reads rows
2i+a-1 .. 2i+a+1 of U, i.e. rows i-1, i, i (a = 0) or i, i, i+1 (a = 1) of x: kernel rows that land on the
same input row add up. So each of the four output phases (a, b) is a 2x2 convolution of x whose kernel is
sums of the 3x3 kernel's entries; interleaving the phases (a pixel shuffle) gives the upsampled result.
It is the same function of the same weights, up to float rounding, at 16 instead of 36 multiply-adds per
low-resolution pixel and channel pair, and the 4x larger upsampled input is never materialised.

`SubpixelConv2d` is an nn.Conv2d (same `weight`, `bias`, state_dict keys), so checkpoints stay those of the
plain Upsample + Conv2d model; `use_subpixel_` swaps it in wherever a Sequential has that pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SubpixelConv2d(nn.Conv2d):
    """conv3x3(upsample_nearest_x2(x)) with padding 1, computed on x directly (see the module docstring)."""

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> SubpixelConv2d:
        """A SubpixelConv2d sharing `conv`'s parameters (the same Parameter objects)."""
        if not fits(conv):
            raise ValueError(f"not a 3x3, stride 1, padding 1, ungrouped, zero-padded Conv2d: {conv}")
        new = cls.__new__(cls)
        new.__dict__.update(conv.__dict__)  # parameters, buffers, hooks and hyperparameters, shared
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        out = self.out_channels
        kernel = phase_kernels(self.weight)  # (4 * out, in, 2, 2), channels ordered (out, a, b)
        bias = None if self.bias is None else self.bias.repeat_interleave(4)
        # One 2x2 convolution of x padded by 1 gives every phase at (h+1) x (w+1) offsets; phase (a, b) is the
        # h x w window starting at (a, b). y[:, o, 2i+a, 2j+b] = z[:, 4o+2a+b, i+a, j+b] is linear in
        # (o, i, a, j, b), so the interleaving is one strided view of z and one copy, whatever z's layout.
        z = F.conv2d(x, kernel, bias, padding=1)
        return _Interleave.apply(z, out, h, w)


def _phases(z: torch.Tensor, out: int, h: int, w: int) -> torch.Tensor:
    """The (n, out, h, 2, w, 2) view of z with [:, o, i, a, j, b] = z[:, 4o+2a+b, i+a, j+b]."""
    s_n, s_c, s_h, s_w = z.stride()
    return z.as_strided((len(z), out, h, 2, w, 2), (s_n, 4 * s_c, s_h, 2 * s_c + s_h, s_w, s_c + s_w),
                        z.storage_offset())


class _Interleave(torch.autograd.Function):
    """The phases of z interleaved into the upsampled image: one copy each way. Autograd's own backward of
    an as_strided view cannot tell the windows apart (it scatters through an index of the whole storage,
    ~30 ms per layer here); each channel of z feeds exactly one phase, so the gradient is that same view
    of a zeroed tensor, filled by one copy."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, z: torch.Tensor, out: int, h: int, w: int
                ) -> torch.Tensor:
        ctx.shape = (out, h, w)
        n = len(z)
        phases = _phases(z, out, h, w)
        ctx.channels_last = z.is_contiguous(memory_format=torch.channels_last) and not z.is_contiguous()
        if ctx.channels_last:
            return phases.permute(0, 2, 3, 4, 5, 1).reshape(n, 2 * h, 2 * w, out).permute(0, 3, 1, 2)
        return phases.reshape(n, out, 2 * h, 2 * w)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple:
        out, h, w = ctx.shape
        n = len(grad)
        layout = torch.channels_last if ctx.channels_last else torch.contiguous_format
        grad_z = torch.empty((n, 4 * out, h + 1, w + 1), dtype=grad.dtype, device=grad.device,
                             memory_format=layout).zero_()  # its border row and column stay zero
        _phases(grad_z, out, h, w).copy_(grad.unflatten(2, (h, 2)).unflatten(4, (w, 2)))
        return grad_z, None, None, None


def phase_kernels(weight: torch.Tensor) -> torch.Tensor:
    """(out, in, 3, 3) -> (4 * out, in, 2, 2): the 2x2 kernel of each output phase (a, b), order (out, a, b).
    Plain additions, so it stays in the weights' dtype (fp32) under autocast, and gradients flow back."""
    w0, w1, w2 = weight[:, :, 0], weight[:, :, 1], weight[:, :, 2]
    rows = torch.stack([torch.stack([w0, w1 + w2], 2), torch.stack([w0 + w1, w2], 2)], 2)  # (o, i, a, 2, 3)
    c0, c1, c2 = rows[..., 0], rows[..., 1], rows[..., 2]
    both = torch.stack([torch.stack([c0, c1 + c2], -1), torch.stack([c0 + c1, c2], -1)], 3)  # (o, i, a, b, 2, 2)
    o, i = weight.shape[:2]
    return both.permute(0, 2, 3, 1, 4, 5).reshape(4 * o, i, 2, 2)


def fits(conv: nn.Module) -> bool:
    """A plain 3x3 Conv2d with stride 1, padding 1, no dilation or groups, zero padding."""
    return (
        type(conv) is nn.Conv2d  # not a subclass, nor a parametrized one (spectral norm)
        and conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


def _nearest_x2(module: nn.Module) -> bool:
    return (
        type(module) is nn.Upsample
        and module.mode == "nearest"
        and module.size is None
        and module.scale_factor in (2, 2.0, (2, 2), (2.0, 2.0))
    )


def use_subpixel_(model: nn.Module) -> int:
    """Replace every (nn.Upsample(x2, nearest), 3x3 Conv2d) pair in a Sequential of `model` by (Identity,
    SubpixelConv2d) in place, sharing the parameters. Returns the number of pairs replaced."""
    count = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            if _nearest_x2(seq[i]) and fits(seq[i + 1]):
                seq[i + 1] = SubpixelConv2d.from_conv(seq[i + 1])
                seq[i] = nn.Identity()
                count += 1
    return count
