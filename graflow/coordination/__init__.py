"""coordination package."""
