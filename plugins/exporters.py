"""Built-in export formats: TensorFlow SavedModel, TensorFlow Lite and ONNX.

Each factory writes a Keras model whose input is ``features`` and whose outputs
are named by task, and returns a ``run`` that loads the written export with the
plain runtime a user would have (``tf.saved_model``, ``tf.lite.Interpreter``,
``onnxruntime``), never with serzoo or Keras, so the parity check that
``serzoo export`` makes covers what users will run. TensorFlow and the
converters are imported inside the functions, so listing stays instant.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from serzoo import Exporter, Param, hookimpl
from serzoo.core.errors import ConfigError
from serzoo.core.registry import EXPORT_INPUT as INPUT_NAME

ONNX_HINT = "pip install 'serzoo[onnx]'"


def _input_spec(model, batch: int | None):
    import keras

    return keras.InputSpec(shape=(batch, *model.input_shape[1:]), dtype="float32", name=INPUT_NAME)


def export_savedmodel(model, path: Path):
    """Write a TensorFlow SavedModel whose ``serving_default`` signature takes ``features`` (any batch)."""
    from serzoo.core.tf import import_tensorflow

    tf = import_tensorflow()
    model.export(str(path), format="tf_saved_model", input_signature=[_input_spec(model, None)], verbose=False)

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        return {name: value.numpy() for name, value in serve(**{INPUT_NAME: tf.constant(x)}).items()}

    return run, {"signature": "serving_default", "batch": None}


def export_tflite(model, path: Path, batch: int = 1):
    """Write a TensorFlow Lite flat buffer of TFLite built-in operations only (no Flex delegate needed).

    Recurrent blocks convert to built-in operations only with a fixed batch size,
    hence the default of one utterance per call; ``batch=0`` leaves the batch open.
    """
    from serzoo.core.tf import import_tensorflow

    tf = import_tensorflow()
    if batch < 0:
        raise ConfigError(f"exporter tflite: batch={batch} must be 1 or more (0: any batch size)")
    try:
        model.export(str(path), format="litert", input_signature=[_input_spec(model, batch or None)], verbose=False,
                     target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})
    except Exception as exc:  # the converter's own message is pages of MLIR: name the operations it refused
        ops = sorted(set(re.findall(r"'(tf\.\w+)' op", str(exc))))
        what = f"no TFLite built-in form for {', '.join(ops)}" if ops else (str(exc).strip() or type(exc).__name__)
        hint = "; a fixed batch size (--opt batch=1) lets recurrent blocks convert" if not batch else ""
        raise ConfigError(f"exporter tflite: the TFLite converter failed: {what.splitlines()[0][:300]}{hint}") from None

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        with warnings.catch_warnings():  # tf.lite.Interpreter announces its move to ai_edge_litert
            warnings.simplefilter("ignore")
            runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        step = batch or len(x)
        parts = [runner(**{INPUT_NAME: x[i:i + step]}) for i in range(0, len(x), step)]
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    return run, {"signature": "serving_default", "batch": batch or None}


def export_onnx(model, path: Path, opset: int = 0):
    """Write an ONNX model with tf2onnx from the frozen inference function (input ``features``, outputs by task)."""
    try:
        import onnxruntime
        import tf2onnx
    except ImportError as exc:
        raise ConfigError(f"exporter onnx needs {exc.name}: {ONNX_HINT}") from None
    from serzoo.core.tf import import_tensorflow

    tf = import_tensorflow()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda features: model(features, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec((None, *model.input_shape[1:]), tf.float32,
                                                            name=INPUT_NAME))
    # Freezing turns captured constants (the standardisation statistics) into graph constants, which
    # tf2onnx's from_function would leave as extra inputs; control flow stays as while loops (LSTMs).
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False, aggressive_inlining=True)
    tasks = tf.nest.flatten({name: name for name in concrete.structured_outputs})  # the order of frozen.outputs
    rename = {t.name: task for t, task in zip(frozen.outputs, tasks)}
    rename[frozen.inputs[0].name] = INPUT_NAME
    tf2onnx.convert.from_graph_def(frozen.graph.as_graph_def(), input_names=[t.name for t in frozen.inputs],
                                   output_names=[t.name for t in frozen.outputs], tensors_to_rename=rename, opset=opset or None,
                                   output_path=str(path))

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, {INPUT_NAME: x})))

    return run, {"opset": opset or None, "batch": None}


@hookimpl
def serzoo_register_exporters(register):
    register(Exporter(
        name="savedmodel", description="TensorFlow SavedModel (a folder; TF Serving, tf.saved_model.load)",
        factory=export_savedmodel, suffix="", runtime="tensorflow",
    ))
    register(Exporter(
        name="tflite", description="TensorFlow Lite flat buffer of built-in operations (mobile, embedded)",
        factory=export_tflite, suffix=".tflite", runtime="tf.lite / ai_edge_litert",
        params=(Param("batch", "int", 1, "fixed batch size (recurrent blocks need one); 0 = any"),),
    ))
    register(Exporter(
        name="onnx", description=f"ONNX through tf2onnx ({ONNX_HINT})",
        factory=export_onnx, suffix=".onnx", runtime="onnxruntime",
        params=(Param("opset", "int", 0, "ONNX opset version; 0 = the converter's default"),),
    ))
