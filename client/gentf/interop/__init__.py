"""Interchange with a locally installed TensorFlow (optional; imported lazily, only here).

* :func:`export_graph_def`: a gentf graph as a TensorFlow ``GraphDef`` that real
  TensorFlow imports and runs (variables get initializer nodes holding their current,
  trained values, read from the worker).
* :func:`export_saved_model`: a trained TFFunction as a SavedModel with a serving signature,
  which ``tf.saved_model.load`` and TensorFlow Serving load.
* :func:`from_tensorflow`: a real ``tf.compat.v1`` graph (placeholders and variables), a
  ``tf.function`` or a Keras model, copied into a gentf graph as ``(params, inputs, output)``
  ready for ``TFFunction(params, inputs, output)``; :func:`tffunction_from_tensorflow` builds
  the TFFunction directly.
* :func:`load_checkpoint`: a named session's checkpoint (``sess.checkpoint()``) as values
  by variable name, assigned to real TensorFlow variables of the same names.

The copied nodes travel to the worker like any other (ExtendGraph), so the worker's
refusal policy applies to them; refused ops are also reported here, before anything is
sent. TensorFlow is imported inside these functions only: importing ``gentf.interop``
does not need it.
"""

from gentf.interop._checkpoint import load_checkpoint
from gentf.interop._export import export_graph_def, export_saved_model, variable_values
from gentf.interop._import import from_tensorflow, tffunction_from_tensorflow

__all__ = [
    "export_graph_def",
    "export_saved_model",
    "from_tensorflow",
    "load_checkpoint",
    "tffunction_from_tensorflow",
    "variable_values",
]
