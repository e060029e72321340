"""The composition root: builds every component from Settings and serves them."""
