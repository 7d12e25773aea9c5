"""Offline model conversion into the local store (`paddle_import`: Paddle exports -> ONNX sets).

`paddle_import` orchestrates; `paddle_export` reads an export, `paddle_to_onnx` converts and
repairs it, `parity` checks it against Paddle Inference, `errors` holds the shared errors.
Nothing here is on the service's import path; the heavy converters (paddle, paddle2onnx, onnx)
are imported lazily, only while converting.
"""
