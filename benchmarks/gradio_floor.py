"""The floor of a gradio_client round trip: an app whose event does no work, on loopback, in its own process.

Also its throughput with 16 concurrent clients against one: how far the Gradio queue and the clients alone
scale on this machine, with no model at all.

python benchmarks/gradio_floor.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from common import save

APP = """
import sys
import gradio as gr
with gr.Blocks() as demo:
    a, b, out = gr.Textbox(), gr.Textbox(), gr.Label()
    gr.Button().click(lambda x, y: {"entailment": 1.0}, [a, b], out, api_name="predict")
demo.queue().launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), quiet=True)
"""


def main(requests: int = 100) -> None:
    from gradio_client import Client
    from serving import free_port, wait_until_up

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen(
        [sys.executable, "-c", APP, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until_up(url, server)
        client = Client(url, verbose=False, analytics_enabled=False)
        for _ in range(5):
            client.predict("a", "b", api_name="/predict")
        latencies = []
        for _ in range(requests):
            start = time.perf_counter()
            client.predict("a", "b", api_name="/predict")
            latencies.append(time.perf_counter() - start)
        sequential_rps = requests / sum(latencies)
        clients = [Client(url, verbose=False, analytics_enabled=False) for _ in range(16)]
        start = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda c: [c.predict("a", "b", api_name="/predict") for _ in range(requests // 16)], clients))
        concurrent_rps = 16 * (requests // 16) / (time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait(timeout=30)
    median_ms = 1000 * statistics.median(latencies)
    print(f"gradio_client round trip to an event that does nothing: median {median_ms:.1f} ms over {requests}")
    print(
        f"no-op app throughput: 1 client {sequential_rps:.1f} req/s, 16 clients {concurrent_rps:.1f} req/s "
        f"({concurrent_rps / sequential_rps:.2f}x)"
    )
    save(
        "gradio_floor",
        {
            "requests": requests,
            "median_ms": median_ms,
            "sequential_rps": sequential_rps,
            "concurrent_16_rps": concurrent_rps,
            "ratio": concurrent_rps / sequential_rps,
        },
    )


if __name__ == "__main__":
    main()
