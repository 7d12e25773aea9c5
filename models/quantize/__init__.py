"""Lower-precision variants of a model set: FP16 conversion (fp16.py) and static INT8 (QDQ)
quantisation (int8.py), plus the pure pieces of `ocr models derive`: calibration sampling
(calibration.py) and the admission gate (gate.py).

Offline side: nothing here imports `service`. The command (service/cli/derive_cmd.py) supplies
the calibration tensors (through the serving pre-processing) and the evaluation predictor.
Nothing is re-exported here: fp16/int8/calibration need onnx (the `convert` extra), the gate
does not.
"""
