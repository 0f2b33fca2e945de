"""Paddle Serving's application helpers; reader holds the preprocessing
readers (IMDBDataset)."""
