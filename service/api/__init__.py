"""HTTP layer: FastAPI app, wire schemas, request reading, errors -> HTTP in one place."""
