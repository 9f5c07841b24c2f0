"""Query functions, one module per analysis area; each returns a pandas DataFrame."""
