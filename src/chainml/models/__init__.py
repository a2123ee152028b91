"""Models: datasets, training with honest evaluation, ONNX artifacts and their model cards.

The heavy ML libraries (scikit-learn, LightGBM, ONNX) are the ``ml`` extra and are imported
inside the functions that need them, so ``import chainml`` stays light.
"""
