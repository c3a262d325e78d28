"""Exporters and runners for phones: ExecuTorch (.pte), Core ML (.mlpackage), LiteRT (.tflite).

Every target exports the same two fixed-shape programs (``context``, ``upscale_patch``) with
the tiling config from ``mossnet.core.tiling``, writes a manifest (``targets.manifest``) beside the
artifact, and runs it through the same tiling driver for parity checks."""
import logging
import warnings

logging.getLogger("torchao").setLevel(logging.ERROR)
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning)
