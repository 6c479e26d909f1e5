"""Run KServe's REST client against a server; print the results as JSON.

Executed with the bench venv's python (kserve's pins stay out of the project venv):
``python kserve_client_check.py URL MODEL ROWS_JSON``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig  # type: ignore[import-not-found]


async def main(url: str, model: str, rows: list[list[float]]) -> None:
    v2 = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", retries=0, timeout=30))
    try:
        inp = InferInput("X", [len(rows), len(rows[0])], "FP32")
        inp.set_data_from_numpy(
            __import__("numpy").asarray(rows, dtype="float32"), binary_data=False
        )
        result = await v2.infer(
            url, InferRequest(model_name=model, infer_inputs=[inp]), model_name=model
        )
        out = {o.name: o.as_numpy().tolist() for o in result.outputs}
        v1_result = await v1.infer(url, {"instances": rows}, model_name=model)
        ready = await v2.is_server_ready(url)
        model_ready = await v2.is_model_ready(url, model)
        print(json.dumps({"v2": out, "v1": v1_result, "ready": ready, "model_ready": model_ready}))
    finally:
        await v2.close()
        await v1.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
