"""Models: layers, losses and the networks built from them."""
