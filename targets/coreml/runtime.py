"""Core ML: two mlprogram packages (iOS 17+) in one ``.coreml`` folder, ``context.mlpackage``
and ``upscale_patch.mlpackage`` (a multifunction package would need iOS 18).

``fp32`` / ``fp16`` convert the float programs at that compute precision; ``w8`` adds int8
per-channel symmetric weights (the recipe's weight scheme) with fp16 compute; ``w8a8`` converts
the PT2E int8 pipeline (weights folded to int8, activations quantize/dequantize) with fp16
compute, so that the Neural Engine can run it. fp16 arithmetic between int8 codes flips some of
them, so ``compute="fp32"`` exists to check that the conversion carries the int8 program
exactly. Off macOS there is no Core ML runtime: the saved programs run in ``mil_interpreter``,
in each of its bounding modes (the fp16 range, ``fp16_range``), and ``checks`` reads what each
precision claims from the saved program.

Two more commands: ``python -m targets.coreml verify ARTIFACT [--json REPORT] [--fold]`` (macOS:
Core ML's own predict on CPU, CPU and GPU, and all compute units against the references) and
``python -m targets.coreml fp16-range [ARTIFACT ...]`` (the range of each artifact's manifest)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mossnet.core.tiling import PROGRAMS

from ..runtime import ExportError, Precision, Programs, Runtime

COMPUTE = ("fp16", "fp32")
SPEC = "Data/com.apple.CoreML/model.mlmodel"
# What each precision claims beyond its compute dtype, checked in the saved program (checks.py)
CLAIMS = {"fp32": (), "fp16": (), "w8": ("weights_int8",), "w8a8": ("weights_int8", "activations_int8")}

# Parity bounds (dB) of the fp16-compute builds, from the fp16 range (``mil_interpreter.MODES``):
# the lowest figure of any mode on any parity image, minus the spread between the modes on that
# image, minus ``fp16_range.MARGIN_DB``, rounded down to 0.5 dB (``fp16_range.derived_bound``).
# Measured on the shipped XS (``python -m targets.coreml fp16-range``, in each manifest's
# parity.modes): fp16 71.03 to 74.59 dB against float PyTorch -> 66.0; w8 47.23 to 47.28 ->
# 46.0, kept at stage 4's 44.0; w8a8 50.03 to 51.71 against the int8 program -> 47.0, kept at
# stage 4's 44.5 (41.0 before issue 20's activation equalization and output on the pixel
# grid). Core ML accumulating in fp16 inside
# a convolution (GPU, Neural Engine) is outside the modelled range: only a Mac can tell
# (``python -m targets.coreml verify``).
FP16_BOUND_DB, W8_BOUND_DB, W8A8_BOUND_DB = 66.0, 44.0, 44.5


class CoreML(Runtime):
    name = "coreml"
    label = "Core ML" + ("" if sys.platform == "darwin" else " (MIL interpreter)")
    packages = ("coremltools",)
    extra = "coreml"
    suffix = ".coreml"
    precisions = (Precision("fp32"), Precision("fp16", None, FP16_BOUND_DB), Precision("w8", None, W8_BOUND_DB),
                  Precision("w8a8", "ptq", W8A8_BOUND_DB))
    default_precision = "fp16"
    timed = sys.platform == "darwin"
    native_loader = sys.platform == "darwin"  # Core ML itself loads it there; elsewhere pure Python
    folder_entries = tuple(f"{name}.mlpackage" for name in PROGRAMS)

    def toolkit(self, compute: str | None = None, **options) -> dict:
        return {**super().toolkit(), "format": "mlprogram", "minimum_deployment_target": "iOS17",
                **({"compute_precision": compute} if compute else {})}

    def convert(self, source, precision: Precision, path: Path, compute: str | None = None, **options) -> dict:
        """``compute`` ("fp16" or "fp32") overrides the arithmetic: fp32 for ``fp32``, else fp16."""
        import coremltools as ct
        compute = compute or ("fp32" if precision.name == "fp32" else "fp16")
        if compute not in COMPUTE:
            raise ExportError(f"compute must be one of {', '.join(COMPUTE)}, not {compute!r}")
        arithmetic = ct.precision.FLOAT16 if compute == "fp16" else ct.precision.FLOAT32
        path.mkdir()
        for name, exported in source.exported(fold_weights=precision.quantized_by is not None).items():
            inputs, output = PROGRAMS[name]
            mlmodel = ct.convert(exported.run_decompositions({}),
                                 inputs=[ct.TensorType(name=n, shape=tuple(e.shape), dtype=np.float32)
                                         for n, e in zip(inputs, source.examples[name])],
                                 outputs=[ct.TensorType(name=output, dtype=np.float32)],
                                 convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17,
                                 compute_precision=arithmetic)
            if precision.name == "w8":
                mlmodel = ct.optimize.coreml.linear_quantize_weights(mlmodel, config=weight_config(ct))
            mlmodel.save(str(path / f"{name}.mlpackage"))
        return {"toolkit": self.toolkit(compute), "files": {name: f"{name}.mlpackage" for name in PROGRAMS}}

    def check_file(self, path: Path) -> None:
        """A folder with exactly the two packages, each with its Manifest.json and model spec."""
        if not path.is_dir():
            raise ExportError(f"{path}: not a .coreml folder")
        found = sorted(p.name for p in path.iterdir())
        expected = sorted(self.folder_entries)
        if found != expected:
            raise ExportError(f"{path}: holds {', '.join(found) or 'nothing'}, not {', '.join(expected)}")
        for package in program_paths(path).values():
            if not (package / "Manifest.json").is_file() or not (package / SPEC).is_file():
                raise ExportError(f"{package}: not an mlpackage (no Manifest.json and {SPEC})")

    def declare(self, path: Path) -> dict:
        """Each package's input and output names, shapes and dtypes from its model description."""
        import coremltools as ct
        dtypes = {ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32: "float32",
                  ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT16: "float16",
                  ct.proto.FeatureTypes_pb2.ArrayFeatureType.INT32: "int32"}
        out = {}
        for name, package in program_paths(path).items():
            spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()

            def tensor(feature):
                array = feature.type.multiArrayType
                return {"name": feature.name, "shape": [int(d) for d in array.shape],
                        "dtype": dtypes.get(array.dataType, f"code {array.dataType}")}
            out[name] = {"inputs": [tensor(f) for f in spec.description.input],
                         "outputs": [tensor(f) for f in spec.description.output]}
        return out

    def programs(self, path: Path) -> Programs:
        return predict_programs(path) if sys.platform == "darwin" else interpreter_programs(path)

    def parity_modes(self, path: Path) -> dict[str, Programs]:
        """The interpreter's bounding modes: the fp16 range this artifact's parity lies in."""
        from .mil_interpreter import MODES
        return {mode: interpreter_programs(path, mode) for mode in MODES}

    def check_artifact(self, path: Path, precision: Precision, manifest: dict) -> None:
        """The manifest against the packages' specs, the claimed compute dtype, and what the
        precision claims (``CLAIMS``), one ``checks`` function per concern; the convs an int8
        pipeline keeps float are those its manifest records (``float_convs``)."""
        from . import checks
        functions = checks.main_functions(path)
        checks.check_manifest_matches_spec(path, manifest)
        checks.check_compute_dtype(path, manifest["toolkit"]["compute_precision"], functions)
        for claim in CLAIMS[precision.name]:
            getattr(checks, f"check_{claim}")(path, claimed_functions(precision, functions), float_convs(manifest))


def float_convs(manifest: dict) -> int:
    """How many convs the int8 pipeline an artifact came from keeps float (its manifest's
    ``quantized_pipeline.float_layers``, each a conv); 0 for builds of the float model."""
    return len((manifest.get("quantized_pipeline") or {}).get("float_layers", []))


def claimed_functions(precision: Precision, functions: dict) -> dict:
    """The programs a precision's claims hold for: both for w8; for w8a8 (from an int8
    pipeline) those the recipe makes int8 (``quantize.recipe.int8_programs``: the context
    program stays float)."""
    if precision.quantized_by is None:
        return functions
    from quantize.recipe import int8_programs
    return {name: fn for name, fn in functions.items() if name in int8_programs()}


def weight_config(ct):
    return ct.optimize.coreml.OptimizationConfig(global_config=ct.optimize.coreml.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=0))


def program_paths(artifact: str | Path) -> dict[str, Path]:
    return {name: Path(artifact) / f"{name}.mlpackage" for name in PROGRAMS}


def interpreter_programs(artifact: str | Path, mode: str | None = None) -> Programs:
    """The saved programs executed by the MIL interpreter (any OS) in one of its ``MODES``."""
    from .mil_interpreter import DEFAULT_MODE, MILInterpreter, load_program
    run = {name: MILInterpreter(load_program(path), mode or DEFAULT_MODE) for name, path in program_paths(artifact).items()}
    return _callables(lambda name, feeds: run[name](feeds))


def predict_programs(artifact: str | Path, compute_units: str = "ALL") -> Programs:
    """The saved programs run by Core ML itself (macOS only) with ``compute_units`` (a name of
    ``coremltools.ComputeUnit``)."""
    import coremltools as ct
    models = {name: ct.models.MLModel(str(path), compute_units=ct.ComputeUnit[compute_units])
              for name, path in program_paths(artifact).items()}
    return _callables(lambda name, feeds: models[name].predict(feeds))


def _callables(run) -> Programs:
    def call(name, *arrays):
        inputs, output = PROGRAMS[name]
        return np.asarray(run(name, dict(zip(inputs, arrays)))[output], dtype=np.float32)
    return (lambda thumb: call("context", thumb)), (lambda patch, mod: call("upscale_patch", patch, mod))
