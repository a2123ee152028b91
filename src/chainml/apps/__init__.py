"""Applications built on chainml's primitives: one module or package per application."""
