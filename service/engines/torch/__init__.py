"""The torch engine: ONNX graphs run as torch modules (the GPU path without onnxruntime-gpu).

``engine`` (TorchEngine: devices, precision, batch buckets, CUDA graphs), ``graph`` (ONNX ->
torch module), ``ops`` (the op contract) with its tables ``ops_tensor`` and ``ops_nn``. Every
module here imports torch: the loader imports this package only when OCR_ENGINE=torch.
"""
