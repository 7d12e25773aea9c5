"""Training text recognisers (torch, the ``train`` extra): fine-tune a served ONNX recogniser on
its own graph, or train a CRNN + CTC from scratch; export either for serving with a parity check.

Modules: ``config`` (TrainConfig, YAML + overrides, digests), ``sources`` (line images from crop
sets, page sets, LMDB), ``lmdb_store``, ``synth`` (rendered lines), ``augment``, ``batches``
(serving's resize -> padded tensors), ``crnn``, ``finetune`` (ONNX graph <-> trainable module),
``loop`` (the one training loop), ``validate``, ``checkpoint``, ``report`` (JSONL log + plot),
``export`` (ONNX, parity, catalogue entry). Nothing under ``service/`` imports this package
except the ``ocr train`` commands, lazily.
"""
