"""Charset + CTC decoding: the one decoder shared by serving, eval and training (numpy only)."""

from models.codec.charset import BLANK, Charset, CharsetError
from models.codec.ctc import Decoder, beam_decode, greedy_decode, greedy_decode_batch
from models.codec.stitch import join_windows
from models.codec.topk import TopK

__all__ = [
    "BLANK",
    "Charset",
    "CharsetError",
    "Decoder",
    "TopK",
    "beam_decode",
    "greedy_decode",
    "greedy_decode_batch",
    "join_windows",
]
