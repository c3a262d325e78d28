"""int8 quantization of MossNet's two programs (PT2E), one recipe for every target."""
import importlib.util
import logging
import warnings

_missing = [m for m in ("torchao", "executorch") if importlib.util.find_spec(m) is None]
if _missing:  # one line for the user, not a traceback
    raise SystemExit(f"error: quantization needs {' and '.join(_missing)}: pip install -e '.[quantize]'")

# torchao logs a warning per optional CUDA kernel library it cannot load on a CPU machine,
# and torch.export warns on pytree internals during deepcopy: neither concerns the user.
logging.getLogger("torchao").setLevel(logging.ERROR)
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning)
