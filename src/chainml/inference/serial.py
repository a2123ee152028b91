"""Integer models as JSON documents and back: the form in which a decision policy is stored.

Integers stay JSON integers of any size (Python's ``json`` writes and reads them exactly), so
the document is the integer model itself, not an approximation of it.
"""

from __future__ import annotations

from typing import Any

from chainml.errors import InvalidInputError
from chainml.inference import fixedpoint as fp


def inputs_document(inputs: tuple[fp.InputSpec, ...]) -> list[dict[str, Any]]:
    """Each input's name, scale and accepted integer range."""
    return [{"name": s.name, "scale": s.scale, "low": s.low, "high": s.high} for s in inputs]


def model_document(model: fp.FixedPointModel) -> dict[str, Any]:
    """The JSON form of an integer model (without its inputs, stored beside it)."""
    if isinstance(model, fp.LinearModel):
        return {"kind": "linear", "weights": list(model.weights), "bias": model.bias,
                "score_scale": model.score_scale}  # fmt: skip
    if isinstance(model, fp.MLPModel):
        layers = [{"weights": [list(r) for r in layer.weights], "bias": list(layer.bias)}
                  for layer in model.layers]  # fmt: skip
        return {"kind": "mlp", "layers": layers, "score_scale": model.score_scale}
    if isinstance(model, fp.TreeEnsembleModel):
        trees = [[[n.feature, n.threshold, n.left, n.right, n.value] for n in tree]
                 for tree in model.trees]  # fmt: skip
        return {"kind": "trees", "trees": trees, "bias": model.bias,
                "score_scale": model.score_scale}  # fmt: skip
    raise InvalidInputError(f"no document form for {type(model).__name__}")


def _int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise InvalidInputError(f"{what} is not an integer")
    return value


def model_from_document(
    document: dict[str, Any], inputs: list[dict[str, Any]], threshold: int
) -> fp.FixedPointModel:
    """The integer model of a document (InvalidInputError when malformed)."""
    try:
        specs = tuple(
            fp.InputSpec(str(s["name"]), _int(s["scale"], "scale"), _int(s["low"], "low"),
                      _int(s["high"], "high"))
            for s in inputs
        )  # fmt: skip
        kind = document["kind"]
        scale = _int(document["score_scale"], "score_scale")
        if kind == "linear":
            weights = tuple(_int(w, "weight") for w in document["weights"])
            return fp.LinearModel(specs, weights, _int(document["bias"], "bias"), threshold, scale)
        if kind == "mlp":
            layers = tuple(
                fp.DenseLayer(
                    tuple(tuple(_int(w, "weight") for w in row) for row in layer["weights"]),
                    tuple(_int(b, "bias") for b in layer["bias"]),
                )
                for layer in document["layers"]
            )
            return fp.MLPModel(specs, layers, threshold, scale)
        if kind == "trees":
            trees = tuple(
                tuple(fp.TreeNode(*(_int(v, "tree node") for v in node)) for node in tree)
                for tree in document["trees"]
            )
            return fp.TreeEnsembleModel(
                specs, trees, _int(document["bias"], "bias"), threshold, scale
            )
    except (KeyError, TypeError, IndexError) as err:
        raise InvalidInputError(f"malformed integer model document: {err!r}") from err
    raise InvalidInputError(f"unknown integer model kind {document.get('kind')!r}")
