"""Documents in, documents out: PDF pages in (``pdf.py``: bytes + options -> page images, limits
checked before anything is rendered), and the result of a whole document out (``document.py``:
the JSON of a PDF; ``formats.py``: text, hOCR, ALTO and a searchable PDF). The reading itself
stays in ``service.ocr``; nothing here imports the server."""
