"""Key fields from OCR lines: receipts (SROIE task 3: company, date, address, total).

Pure Python over the pipeline's TextLine values; no model, no web or runtime imports.
"""

from service.fields.receipt import extract_receipt_fields
from service.fields.types import Field, ReceiptFields

__all__ = ["Field", "ReceiptFields", "extract_receipt_fields"]
