"""Inference engines behind one interface: run(batch) -> output."""

import os

# onnxruntime's telemetry writes a device id under $HOME and state under /tmp, and warns in
# colour (not JSON) on a read-only root filesystem: off, before any engine imports onnxruntime.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
