"""ExecuTorch target: one .pte with two methods (``context``, ``upscale_patch``), XNNPACK."""
