"""Key fields from OCR lines: receipts (SROIE task 3: company, date, address, total).

Pure Python over the pipeline's TextLine values; no model, no web or runtime imports. Import
``service.fields.receipt`` / ``service.fields.types``: this package imports nothing, so a
reading that asks for no fields does not load them.
"""
