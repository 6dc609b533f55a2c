"""`runtime.compile: graph`: the eager iteration (training/iteration.py with the eager players: backward, fused
Adam, clipping, G's average) captured once as a CUDA graph and replayed every step, for CUDA, where a small
GAN's step is kernel launches, not arithmetic (an H200 spent 8-11 ms an iteration on MNIST DCGANs of a few
MFLOP: benchmarks/RESULTS.md "GPU checks"). A replay launches the whole iteration at once.

What a capture fixes, and how each is kept right:
- tensor addresses: the real batch is copied into a static buffer; the logged values, the gradients (kept on
  the parameters as an eager step leaves them) and every intermediate live in the graph's own memory pool;
- shapes and which lazy penalties are due: one graph per (batch shape, penalties due), captured on first use
  after a few eager warm-up iterations on a side stream (cuDNN's autotuning, the optimisers' lazy state);
- random numbers: noise from the trainer's own generator (registered with each graph) and dropout or
  DiffAugment from torch's default one advance with every replay, as the eager draws would;
- the optimiser: fused Adam only (its step count and bias corrections live on the device), no schedules (a
  learning rate is baked into the graph), no host syncs (train.skip_nonfinite is refused).
The warm-up iterations are real training steps, run eagerly; the capture itself runs nothing: the iteration it
records is the first replay. Refusals are the one capability check's (training/capability.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from gankit.training.capability import check_path
from gankit.training.fastpath import fuse_adam_

WARMUP = 3  # eager iterations before a capture (PyTorch's whole-network capture example warms up 3)


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    real: Tensor  # the static input the trainer's batch is copied into
    logged: Tensor  # the iteration's logged values, rewritten by each replay
    grads: list[tuple[Tensor, Tensor | None]]  # (parameter, its gradient in the graph's pool)


class GraphedStep:
    """The trainer's GAN iteration replayed as CUDA graphs; `__call__` returns the logged values (valid until
    the next call)."""

    def __init__(self, trainer: Any) -> None:  # the Trainer (not imported: it imports this module)
        check_path("graph", trainer.config, trainer.G, trainer.D, trainer.data.kind)
        self.t = trainer
        self.graphs: dict[tuple[Any, ...], _Graph] = {}
        self.warm: dict[tuple[Any, ...], int] = {}
        self.params = [*trainer.G.parameters(), *trainer.D.parameters()]
        self.announced = False
        self.last: _Graph | None = None

    def __call__(self, real: Tensor) -> Tensor:
        t = self.t
        due = t.one_iteration.due(t.step)
        key = (tuple(real.shape), real.stride(), real.dtype, tuple(map(id, due)))
        graph = self.graphs.get(key)
        if graph is None and self.warm.get(key, 0) < WARMUP:
            self.warm[key] = self.warm.get(key, 0) + 1
            self.last = None  # the eager gradients replace the graphs' on the parameters
            return self._on_side_stream(lambda: t.one_iteration(t.players, real, t.step))
        if graph is None:
            graph = self.graphs[key] = self._capture(real)
        graph.real.copy_(real)
        graph.graph.replay()
        if graph is not self.last:  # another graph's replay left its own gradients on the parameters
            for p, g in graph.grads:
                p.grad = g  # as an eager step leaves them (the logged gradient norms read them)
            self.last = graph
        return graph.logged

    def forget(self) -> None:
        """Drop the graphs (a loaded checkpoint brings new optimiser state tensors, which no graph holds)."""
        self.graphs.clear()
        self.warm.clear()
        self.last = None

    def _on_side_stream(self, fn: Any) -> Any:
        """Warm-up off the default stream, as CUDA graph captures need (PyTorch's CUDA graphs notes)."""
        side = torch.cuda.Stream(self.t.device)
        side.wait_stream(torch.cuda.current_stream(self.t.device))
        with torch.cuda.stream(side):
            out = fn()
        torch.cuda.current_stream(self.t.device).wait_stream(side)
        return out

    def _capture(self, real: Tensor) -> _Graph:
        t = self.t
        if not self.announced:
            self.announced = True
            tqdm.write("capturing the training step as a CUDA graph (runtime.compile: graph)")
        static = real.clone()  # (its memory format too: channels_last batches stay so)
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(t.noise_rng)  # G's noise: drawn afresh at each replay
        fuse_adam_(t.opt_g, t.opt_d, stepped=True)  # a checkpoint of the compiled step resumes with foreach Adam
        groups = [g for opt in (t.opt_g, t.opt_d) for g in opt.param_groups]
        for group in groups:  # only for the capture: step() refuses to be captured without it; fused Adam's
            group["capturable"] = True  # kernel is the same either way, and checkpoints keep the eager flag
        try:
            with torch.cuda.graph(graph):
                logged = t.one_iteration(t.players, static, t.step)
        finally:
            for group in groups:
                group["capturable"] = False
        self.last = _Graph(graph, static, logged, [(p, p.grad) for p in self.params])
        return self.last
