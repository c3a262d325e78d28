"""The int8 recipe, in one place, for PTQ, QAT and every exporter.

* weights: int8, per output channel, symmetric ([-127, 127]);
* activations: int8, per tensor, affine ([-128, 127]);
* annotation: ExecuTorch's ``XNNPACKQuantizer``. Its patterns (conv, conv+relu, add, mul,
  pixel_shuffle passes through) are exactly the ops MossNet uses, and the graph it produces
  lowers to ExecuTorch/XNNPACK, converts with coremltools to W8A8 and with litert-torch to an
  int8 .tflite (see ``../shared/notes/toolchain.md``), so there is one quantized graph;
* activation observer: min-max by default, chosen by measurement (README, "Quantization"):
  SR outputs are sensitive to clipping, and a histogram observer clips the tails that hold
  edges and highlights;
* the FiLM modulation stays float (``float_modulation``, on by default, issue 20): the context
  program (once per image, on a thumbnail: 13K parameters, under 1% of an image's
  multiply-adds) runs in float, and the patch program takes its output in float and applies
  each block's scale and shift in float before requantizing for the next convolution. The
  modulation sets every feature map's per-channel scale and shift for the whole image; in
  int8, its rounding (and the int8 context's own error) is a per-image, per-channel offset of
  the tail's input, which depth-to-space turns into a fixed sub-pixel grid that bias
  correction cannot learn, because it changes with the image. In float the photo's grid drops
  to the float model's, the loss on every set shrinks, and the tiles cost little (README,
  "Quantization"). The context's weights stay float32 (about 40 KiB more);
* the patch program's output (the residual add, before depth-to-space) is quantized on the
  uint8 pixel grid, scale 1/255 over [0, 1] (``pixel_grid_output``, on by default;
  ``PIXEL_GRID``): every runtime's output is then rounded once, where the float pipeline rounds
  it (``mossnet.core.tiling.to_uint8``), instead of twice. (QAT's patch program keeps its
  residual add in float, so there it has nothing to place.) Observed, its range was
  [-0.28, 1.29] in steps of 1.57 levels, and that second rounding was a per-channel error on
  flat colours (a sub-pixel grid, issue 20);
* with ``float_modulation`` off (the recipe before issue 20), the modulation input of the
  patch program is quantized once and its slices share that quantization
  (``_share_modulation``): left to XNNPACK's patterns, every slice gets its own scale, and
  LiteRT's int8 model, whose int8 input keeps only one of them, returns garbage (19.8 dB);
* the converted graph is kept *unfolded* (weights as float constants followed by
  quantize_per_channel); ``fold_for_target`` folds them into int8 constants for the targets
  that want that (ExecuTorch, Core ML) while litert-torch reads the unfolded graph.
"""
from __future__ import annotations

import dataclasses
from importlib.metadata import version

import torch
from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
    XNNPACKQuantizer,
    get_symmetric_quantization_config,
)
from torchao.quantization.pt2e import (
    HistogramObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
)
from torchao.quantization.pt2e.quantizer import (
    FixedQParamsQuantizationSpec,
    QuantizationAnnotation,
    Quantizer,
    SharedQuantizationSpec,
)

from mossnet.core.pipeline import program_module_name

ACTIVATION_OBSERVERS = {
    "minmax": MinMaxObserver,
    "histogram": HistogramObserver,  # L2-optimal range search: clips outliers
    "moving-average": MovingAverageMinMaxObserver,
}
DEFAULT_OBSERVER = "minmax"
MODULATION_INPUT = "modulation"  # the patch program's second input (mossnet.core.pipeline.PatchProgram)
FLOAT_CONTEXT = ("context",)  # model modules float with float_modulation (see the module docstring)
ANNOTATION_KEY = "quantization_annotation"
WEIGHT_QRANGE = (-127, 127)
ACTIVATION_QRANGE = (-128, 127)
EPS = 2 ** -12
# Bump when the recipe's meaning changes: pipelines and artifacts built with another version
# are stale (``targets.store``) and get rebuilt.
RECIPE_VERSION = 6
# The post-training steps PTQ runs by default (``quantize.ptq``; each has a --no-... flag), in
# this order: the float modulation path and the output on the pixel grid (both the quantizer's,
# see the module docstring; QAT uses the first), cross-layer equalization of the float model
# and activation equalization on the calibration tiles (both ``quantize.equalize``), learned
# rounding of the int8 weights (``quantize.adaround``), empirical bias correction of every
# convolution against float (``quantize.correction``), and balanced depth-to-space convs kept
# balanced in int8 (``quantize.balance``; nothing for convs not trained balanced), and, with a
# balanced tail, each unbalanced U-Net up conv and the decoder conv after it kept float
# (``quantize.balance.unbalanced_up_layers``; nothing with an unbalanced tail). Chosen by
# measurement (README).
DEFAULT_STEPS = {"float_modulation": True, "pixel_grid_output": True, "cle": False, "act_equalization": True,
                 "adaround": True, "bias_correction": True, "phase_balance": True, "float_unbalanced_up": True}
# The patch program's output on the uint8 pixel grid: (q + 128) / 255 for q in [-128, 127].
PIXEL_GRID = FixedQParamsQuantizationSpec(dtype=torch.int8, scale=1 / 255, zero_point=-128,
                                          quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine)
TOOLKIT = ("torch", "torchao", "executorch")  # whose versions a pipeline records


def quantization_config(qat: bool = False, observer: str = DEFAULT_OBSERVER):
    """XNNPACK's symmetric per-channel config with our activation observer (PTQ) or its
    fused moving-average fake-quant (QAT)."""
    if observer not in ACTIVATION_OBSERVERS:
        raise ValueError(f"unknown observer {observer!r}; choose from {sorted(ACTIVATION_OBSERVERS)}")
    config = get_symmetric_quantization_config(
        is_per_channel=True, is_qat=qat, act_qmin=ACTIVATION_QRANGE[0], act_qmax=ACTIVATION_QRANGE[1],
        weight_qmin=WEIGHT_QRANGE[0], weight_qmax=WEIGHT_QRANGE[1])
    if qat:
        return config
    act = dataclasses.replace(config.input_activation,
                              observer_or_fake_quant_ctr=ACTIVATION_OBSERVERS[observer].with_args(eps=EPS))
    return dataclasses.replace(config, input_activation=act, output_activation=act)


class RecipeQuantizer(Quantizer):
    """XNNPACK's annotation, then the recipe's float layers lose theirs and the modulation is
    float or shared (see the module docstring)."""

    def __init__(self, inner: XNNPACKQuantizer, spec, float_modules: tuple[str, ...] = (),
                 only_modules: tuple[str, ...] = (), float_modulation: bool = True, pixel_grid_output: bool = True):
        super().__init__()
        self.inner, self.spec, self.float_modulation = inner, spec, float_modulation
        self.pixel_grid_output = pixel_grid_output
        floats = (FLOAT_CONTEXT if float_modulation else ()) + tuple(float_modules)
        self.float_modules = tuple(program_module_name(m) for m in floats)
        self.only_modules = tuple(program_module_name(m) for m in only_modules)

    def transform_for_annotation(self, model):
        return self.inner.transform_for_annotation(model)

    def validate(self, model) -> None:
        self.inner.validate(model)

    def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        self.inner.annotate(model)
        keep_float(model, self.float_modules)
        if self.only_modules:  # XNNPACK's set_module_name matches no convolution (its weight has no module)
            for node in model.graph.nodes:
                if not _in_module(node, self.only_modules):
                    node.meta.pop(ANNOTATION_KEY, None)
        inputs = [n for n in model.graph.nodes if n.op == "placeholder" and n.name == MODULATION_INPUT]
        if not inputs:  # the context program
            return model
        if self.pixel_grid_output:
            _output_on_pixel_grid(model)
        if self.float_modulation:  # the FiLM ops (scale, shift, ReLU) take the float modulation
            _unannotate_from([user for piece in inputs[0].users for user in piece.users])
        else:
            self._share_modulation(inputs[0])
        return model

    def _share_modulation(self, modulation: torch.fx.Node) -> None:
        first = None
        for piece in [u for u in modulation.users if u.target == torch.ops.aten.slice.Tensor]:
            consumers = [u for u in piece.users
                         if u.meta.get(ANNOTATION_KEY) and piece in u.meta[ANNOTATION_KEY].input_qspec_map]
            if not consumers:  # a layer kept in float: leave its piece alone
                continue
            spec = self.spec if first is None else SharedQuantizationSpec((modulation, first))
            first = first or piece
            piece.meta[ANNOTATION_KEY] = QuantizationAnnotation(
                input_qspec_map={modulation: spec}, output_qspec=SharedQuantizationSpec((modulation, piece)),
                _annotated=True)
            for user in consumers:
                user.meta[ANNOTATION_KEY].input_qspec_map[piece] = SharedQuantizationSpec(piece)


PASS_THROUGH = (torch.ops.aten.pixel_shuffle.default,)  # ops whose output shares their input's range


def _output_on_pixel_grid(model: torch.fx.GraphModule) -> None:
    """The op that makes the patch program's output (through depth-to-space) quantizes it on
    ``PIXEL_GRID``; left alone when it is float (a ``keep_float`` tail)."""
    (out,) = [n for n in model.graph.nodes if n.op == "output"]
    node = out.args[0][0] if isinstance(out.args[0], (tuple, list)) else out.args[0]
    while node.target in PASS_THROUGH:
        node = node.args[0]
    annotation = node.meta.get(ANNOTATION_KEY)
    if annotation is not None and annotation.output_qspec is not None:
        annotation.output_qspec = PIXEL_GRID


def _in_module(node: torch.fx.Node, names: tuple[str, ...]) -> bool:
    paths = [path for path, _ in node.meta.get("nn_module_stack", {}).values()]
    return any(p == n or p.startswith(n + ".") for p in paths for n in names)


def keep_float(model: torch.fx.GraphModule, modules: tuple[str, ...]) -> None:
    """Leave ``modules`` (program module names) in float: their nodes lose their annotation,
    and so do the element-wise ops after them up to the next convolution (FiLM, ReLU, the
    residual add, depth-to-space), so a float layer hands a float result on. XNNPACK's
    quantizer cannot do this itself (``set_module_name(name, None)`` is refused)."""
    if modules:
        _unannotate_from([n for n in model.graph.nodes if n.op == "call_function" and _in_module(n, modules)])


def _unannotate_from(todo: list[torch.fx.Node]) -> None:
    """``todo`` and the element-wise ops after them, up to the next convolution, lose their
    annotation."""
    seen = set()
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        node.meta.pop(ANNOTATION_KEY, None)
        todo += [u for u in node.users if u.op == "call_function" and u.target not in CONVOLUTIONS]


CONVOLUTIONS = (torch.ops.aten.conv2d.default, torch.ops.aten.linear.default)


def make_quantizer(qat: bool = False, observer: str = DEFAULT_OBSERVER, float_modules: tuple[str, ...] = (),
                   float_modulation: bool = DEFAULT_STEPS["float_modulation"],
                   pixel_grid_output: bool = DEFAULT_STEPS["pixel_grid_output"]) -> Quantizer:
    """The quantizer; ``float_modules`` (model module names, e.g. ``upscaler.tail``) stay float
    (``keep_float``); ``float_modulation``, ``pixel_grid_output``: see the module docstring."""
    config = quantization_config(qat, observer)
    return RecipeQuantizer(XNNPACKQuantizer().set_global(config), config.input_activation, float_modules,
                           float_modulation=float_modulation, pixel_grid_output=pixel_grid_output)


def single_layer_quantizer(layer: str, observer: str = DEFAULT_OBSERVER,
                           float_modulation: bool = DEFAULT_STEPS["float_modulation"],
                           pixel_grid_output: bool = DEFAULT_STEPS["pixel_grid_output"]) -> Quantizer:
    """Quantizes only ``layer`` (for the sensitivity analysis)."""
    config = quantization_config(False, observer)
    return RecipeQuantizer(XNNPACKQuantizer().set_global(config), config.input_activation, only_modules=(layer,),
                           float_modulation=float_modulation, pixel_grid_output=pixel_grid_output)


def in_float(layer: str, float_modules: tuple[str, ...] = (),
             float_modulation: bool = DEFAULT_STEPS["float_modulation"]) -> bool:
    """Whether a model module (``context.features.0``, ``upscaler.tail``) stays float: one of
    ``float_modules`` or inside one, or the context with the float modulation path."""
    floats = (FLOAT_CONTEXT if float_modulation else ()) + tuple(float_modules)
    return any(layer == f or layer.startswith(f + ".") for f in floats)


def int8_programs(float_modulation: bool = DEFAULT_STEPS["float_modulation"]) -> tuple[str, ...]:
    """The programs an int8 pipeline runs in int8 (weights and activations); the context stays
    float with the float modulation path."""
    return ("upscale_patch",) if float_modulation else ("context", "upscale_patch")


def recipe_dict(observer: str = DEFAULT_OBSERVER, float_modules: tuple[str, ...] = (),
                steps: dict | None = None) -> dict:
    """The recipe as data, for reports and manifests."""
    return {"weights": {"dtype": "int8", "granularity": "per-channel", "scheme": "symmetric",
                        "range": list(WEIGHT_QRANGE)},
            "activations": {"dtype": "int8", "granularity": "per-tensor", "scheme": "affine",
                            "range": list(ACTIVATION_QRANGE), "observer": observer},
            "annotator": "executorch XNNPACKQuantizer", "float_modules": list(float_modules),
            "steps": dict(steps) if steps is not None else {k: False for k in DEFAULT_STEPS},
            "version": RECIPE_VERSION, "toolkit": {p: version(p) for p in TOOLKIT}}


def fold_for_target(graph_module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Fold weight quantize ops into int8 constants (what convert_pt2e(fold_quantize=True)
    does), for ExecuTorch and Core ML."""
    from torchao.quantization.pt2e.constant_fold import constant_fold
    from torchao.quantization.pt2e.quantize_pt2e import _quant_node_constraint
    constant_fold(graph_module, _quant_node_constraint)
    return graph_module


# Which int8 pipeline the exporters build by default (``targets.*``' default precision
# ``int8-ptq``) and the apps ship: PTQ with the steps above. It is ahead of QAT on every set
# and keeps flat colours in place where QAT moves one by 6 levels (README, "Quantization");
# PTQ needs no training data and rebuilds in a minute.
DEFAULT_METHOD = "ptq"


def main(argv=None) -> int:
    """``python -m quantize.recipe``: the recipe the exporters use, as JSON."""
    import argparse
    import json
    argparse.ArgumentParser(prog="python -m quantize.recipe", description=main.__doc__).parse_args(argv)
    print(json.dumps({"default_int8_method": DEFAULT_METHOD,
                      "default_ptq_steps": DEFAULT_STEPS, **recipe_dict(steps=DEFAULT_STEPS)}, indent=1))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
