"""Shared by every stage: safe file writing, tables and figures, the suite's folder, published numbers."""
