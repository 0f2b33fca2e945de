"""Readers that turn raw inputs into what a served model is fed."""
from .imdb_reader import IMDBDataset

__all__ = ["IMDBDataset"]
