"""Users' data: their volumes over time (lifecycle: list, archive, remove)."""
