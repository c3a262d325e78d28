"""The PTQ recipe's steps in order, shared by ``quantize.ptq``, the ablation table and the
per-layer sensitivity: the float modulation path (a choice of the quantizer), cross-layer
and activation equalization of the float model, observers and calibration, convert, learned rounding, bias
correction, phase balance of the depth-to-space convs, and which layers stay float for them
(``quantize.recipe.DEFAULT_STEPS``)."""
from __future__ import annotations

from tqdm import tqdm

from .adaround import adaround
from .balance import balance_phases, unbalanced_up_layers
from .correction import bias_correction
from .equalize import equalize, equalize_activations
from .program import QuantizedPipeline, calibrate, convert, prepare
from .recipe import DEFAULT_OBSERVER, DEFAULT_STEPS, make_quantizer


def kept_float(model, float_modules: tuple[str, ...] = (), steps: dict | None = None) -> tuple[str, ...]:
    """The layers the pipeline keeps in float: those asked for, then those the
    ``float_unbalanced_up`` step adds (``quantize.balance.unbalanced_up_layers``)."""
    steps = dict(DEFAULT_STEPS, **(steps or {}))
    added = unbalanced_up_layers(model) if steps["float_unbalanced_up"] else ()
    return tuple(dict.fromkeys(tuple(float_modules) + added))


def build_pipeline(model, tiling, calib, observer: str = DEFAULT_OBSERVER, float_modules: tuple[str, ...] = (),
                   steps: dict | None = None, seed: int = 0, progress: bool = False,
                   quantizer=None) -> tuple[QuantizedPipeline, dict]:
    """The PTQ recipe on calibration tiles: CLE (float model), observers, convert, learned
    rounding, bias correction (each as ``steps`` says; default ``DEFAULT_STEPS``); (pipeline,
    what each step did). ``quantizer`` replaces the recipe's (the sensitivity analysis)."""
    steps = dict(DEFAULT_STEPS, **(steps or {}))
    details = {}
    if quantizer is None and steps["float_unbalanced_up"]:
        details["float_unbalanced_up"] = {"float_layers": list(unbalanced_up_layers(model))}
        float_modules = kept_float(model, float_modules, steps)
    if steps["cle"]:  # on the float model, before the observers: the function is unchanged
        model, details["cle"] = equalize(model)
    if steps["act_equalization"]:  # the same, from the activations' ranges on the calibration tiles
        model, details["act_equalization"] = equalize_activations(model, tiling, calib)
    quantizer = quantizer or make_quantizer(observer=observer, float_modules=float_modules,
                                            float_modulation=steps["float_modulation"],
                                            pixel_grid_output=steps["pixel_grid_output"])
    ctx, patch = prepare(model, tiling, quantizer)
    calibrate(model, ctx, patch, calib, progress=lambda it: tqdm(it, desc="calibrating", unit="image",
                                                                 disable=not progress))
    pipe = QuantizedPipeline(convert(ctx), convert(patch), tiling)
    if steps["adaround"]:
        details["adaround"] = adaround(model, tiling, pipe.context, pipe.upscale_patch, calib, seed=seed)
    if steps["bias_correction"]:
        details["bias_correction"] = bias_correction(model, tiling, pipe.context, pipe.upscale_patch, calib)
    if steps["phase_balance"]:  # last: the steps above round and correct each phase on its own
        details["phase_balance"] = balance_phases(model, pipe.upscale_patch)
    return pipe, details
