"""A function recorded once in a CUDA graph and replayed (whole-step capture).

At batch 128 a ResNet20 layer is a few microseconds of GPU work, so an eager
PGD-10 training step spends its time launching kernels from Python. Recorded in
a CUDA graph (:class:`torch.cuda.CUDAGraph`), the whole step — random start,
attack iterations, loss, backward, SGD update, running sums — is one launch.

Rules the recorded function must follow (the training step does):

* no host synchronisation: no ``.item()``, ``.cpu()``, no branching on tensor
  values;
* it reads and writes only tensors that live as long as the graph: the static
  inputs, parameters, optimiser buffers, and sums updated in place;
* random numbers come from ``torch.rand*``/``uniform_``/``randn_like`` on the
  CUDA default generator: inside a graph they are fresh at every replay
  (PyTorch advances the Philox offset per replay).

Python numbers read while recording (the learning rate) are baked into the
graph: a new ``key`` records the function again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class GraphedFunction:
    """``fn(*tensors)`` run eagerly for ``warmup`` calls, then recorded in a CUDA graph and replayed.

    The warm-up calls are real calls (their results count); as PyTorch requires
    before a capture, they run on a side stream, which initialises lazily built
    state (cuDNN autotuning, the optimiser's momentum buffers). The call after
    them records the graph and replays it on its inputs. Later calls copy their
    inputs into the recorded (static) input tensors and replay. The outputs
    returned are the graph's static output tensors: the next call overwrites
    them. A call whose ``key`` or input shapes, dtypes or strides differ from the
    recorded ones drops the graph and starts again with the warm-up.
    """

    def __init__(self, fn: Callable[..., Any], warmup: int = 3) -> None:
        if warmup < 1:
            raise ValueError(f"warmup must be >= 1 (eager calls before the capture), got {warmup}")
        self.fn = fn
        self.warmup = warmup
        self.captures = 0
        """How many times a graph was recorded (for tests and benchmarks)."""
        self._reset(None)

    def _reset(self, signature: Any) -> None:
        self._signature = signature
        self._graph: torch.cuda.CUDAGraph | None = None
        self._warm = 0
        self._static_inputs: list[torch.Tensor] = []
        self._static_output: Any = None

    def __call__(self, *inputs: torch.Tensor, key: Any = None) -> Any:
        signature = (key, [(t.shape, t.dtype, t.stride(), t.device) for t in inputs])
        if signature != self._signature:
            self._reset(signature)
        if self._graph is None:
            if self._warm < self.warmup:
                self._warm += 1
                return self._side_stream(inputs)
            self._capture(inputs)
        else:
            for static, new in zip(self._static_inputs, inputs):
                static.copy_(new)
        self._graph.replay()
        return self._static_output

    def _side_stream(self, inputs: tuple[torch.Tensor, ...]) -> Any:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            out = self.fn(*inputs)
        torch.cuda.current_stream().wait_stream(stream)
        return out

    def _capture(self, inputs: tuple[torch.Tensor, ...]) -> None:
        self._static_inputs = [torch.empty_like(t).copy_(t) for t in inputs]  # strides kept
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._static_output = self.fn(*self._static_inputs)
        self._graph = graph
        self.captures += 1
