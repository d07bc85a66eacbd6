"""Peer engines of benchmarks/inference.py, run in their own interpreter.

DeepSparse 1.8 needs numpy < 2 and its own onnx, so ONNX Runtime and
DeepSparse run in ``.venv-peers`` (``make bench-peers-env``) as this worker:
it imports neither torch nor sksparse. It reads the network's weights and the
inputs from an ``.npz`` file, builds one ONNX model (MatMul, Add, Relu: the
dense weights with their zeros, which DeepSparse's engine exploits), writes
each peer's outputs for the parent to check against dense, then answers
``time <peer> <batch> <n>`` lines with the seconds per call of ``n`` calls,
so that the parent interleaves these timings with its own.

Usage: ``python _inference_peers.py WEIGHTS.npz OUTPUTS.npz THREADS``.
"""

import sys
import time
import warnings


def build_onnx(weights, biases):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    h = "X"
    for i, (w, b) in enumerate(zip(weights, biases)):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(w.T), f"W{i}"))
        inits.append(numpy_helper.from_array(b, f"b{i}"))
        nodes.append(helper.make_node("MatMul", [h, f"W{i}"], [f"m{i}"]))
        out = "Y" if i == len(weights) - 1 else f"a{i}"
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [out]))
        if out != "Y":
            nodes.append(helper.make_node("Relu", [out], [f"h{i}"]))
            h = f"h{i}"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [
            helper.make_tensor_value_info(
                "X", TensorProto.FLOAT, ["N", weights[0].shape[1]]
            )
        ],
        [
            helper.make_tensor_value_info(
                "Y", TensorProto.FLOAT, ["N", weights[-1].shape[0]]
            )
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    import numpy as np

    weights_path, outputs_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = np.load(weights_path)
    n_layers = int(data["n_layers"])
    weights = [data[f"W{i}"] for i in range(n_layers)]
    biases = [data[f"b{i}"] for i in range(n_layers)]
    inputs = {int(k[1:]): data[k] for k in data.files if k.startswith("X")}
    ds_batches = [int(b) for b in data["deepsparse_batches"]]
    model = build_onnx(weights, biases)
    path = weights_path.replace(".npz", ".onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())

    runners, status = {}, {}
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )
        runners["onnxruntime"] = {
            b: (lambda x=x: session.run(None, {"X": x})[0]) for b, x in inputs.items()
        }
        status["onnxruntime"] = f"onnxruntime {ort.__version__}"
    except Exception as exc:  # noqa: BLE001 - a missing peer is reported
        status["onnxruntime"] = f"unavailable: {type(exc).__name__}: {exc}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import deepsparse
            from deepsparse import Engine

        engines = {}
        for b in ds_batches:
            if b in inputs:
                engine = Engine(model=path, batch_size=b, num_cores=threads)
                engines[b] = lambda x=inputs[b], e=engine: e.run([x])[0]
        runners["deepsparse"] = engines
        status["deepsparse"] = f"deepsparse {deepsparse.__version__}"
    except Exception as exc:  # noqa: BLE001 - a missing peer is reported
        status["deepsparse"] = f"unavailable: {type(exc).__name__}: {exc}"

    outputs = {}
    for peer, per_batch in runners.items():
        for b, fn in per_batch.items():
            outputs[f"{peer}:{b}"] = np.asarray(fn(), dtype=np.float32)
    np.savez(outputs_path, **outputs)
    clock = time.process_time if threads == 1 else time.perf_counter
    print("ready " + repr(status), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        _, peer, batch, n = parts
        fn = runners[peer][int(batch)]
        start = clock()
        for _ in range(int(n)):
            fn()
        print((clock() - start) / int(n), flush=True)


if __name__ == "__main__":
    main()
