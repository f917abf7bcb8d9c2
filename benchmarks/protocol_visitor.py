"""A dashboard visitor without a browser: it sends the server what the page sends, and waits for what it waits for.

benchmarks/bench_classroom.py uses it (``--protocol N``) to measure the server alone: on a 2-core machine thirty
headless Chromiums need most of the CPU themselves, while in a classroom each runs on its own laptop. This visitor
costs the machine a few milliseconds of CPU, so the time it measures is the server's.

What one visit does, in the order the page does it (seen in a headless Chromium's websocket frames on lesson 7):

1. GET the dashboard; the page's ``jupyter-config-data`` names the kernel that Voilà gave this visitor. Then GET
   every file the page loads from the server (its scripts, styles and fonts: ``assets``, recorded from a browser's
   visit by the benchmark), six at a time as a browser does, and the kernel's model (``/api/kernels/<id>``).
2. Open that kernel's websocket (``v1.kernel.websocket.jupyter.org``, as the page does), ask ``kernel_info``.
3. Open a ``jupyter.widget.control`` comm and send ``request_states``; the answer (``update_states``) holds every
   widget's state.
4. Each matplotlib canvas (ipympl) is told what the page tells it: ``refresh``, ``send_image_mode``, ``initialized``,
   ``draw``. The explorer's figure is drawn when its canvas sends back an image (a message with a buffer).
5. Click ``return_state``: set its ToggleButtons' ``index`` to the other value and send the click event. The explorer
   works when its shapes text (the ``rnnviz-code`` HTML widget) comes back changed.

What it leaves out is the browser's own work (parsing the page and its scripts, drawing the widgets).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import time
import uuid
from urllib.parse import urlsplit

from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1, serialize_msg_to_ws_v1
from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import websocket_connect

CONFIG = re.compile(r'<script id="jupyter-config-data" type="application/json">\s*(.*?)\s*</script>', re.S)
SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
CANVAS_MODEL = "MPLCanvasModel"
CANVAS_HELLO = ("refresh", "send_image_mode", "initialized", "draw")


class Visitor:
    """One visitor's websocket to its kernel: ``send`` a shell message, ``next`` waits for a kernel message."""

    def __init__(self, socket, session: str):
        self.socket, self.session = socket, session

    async def send(self, msg_type: str, content: dict, metadata: dict | None = None) -> None:
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": self.session, "username": "",
                  "date": datetime.datetime.now(datetime.UTC).isoformat(), "version": "5.2"}
        parts = [json.dumps(part).encode() for part in (header, {}, metadata or {}, content)]
        await self.socket.write_message(serialize_msg_to_ws_v1(parts, "shell"), binary=True)

    async def next(self) -> tuple[dict, dict, list[bytes]]:
        """The next message: its header, its content and its buffers."""
        frame = await self.socket.read_message()
        if frame is None:
            raise ConnectionError("the server closed the kernel's websocket")
        _channel, parts = deserialize_msg_from_ws_v1(frame)
        return json.loads(parts[0]), json.loads(parts[3]), parts[4:]

    async def comm_msg(self, comm_id: str, data: dict) -> None:
        await self.send("comm_msg", {"comm_id": comm_id, "data": data})

    async def comm_msg_from(self, comm_id: str, wanted=lambda data, buffers: True) -> dict:
        """Wait for a comm message from the kernel on ``comm_id`` whose ``data`` (and buffers) are ``wanted``;
        returns its data. Every other message is skipped."""
        while True:
            header, content, buffers = await self.next()
            if (header["msg_type"] == "comm_msg" and content.get("comm_id") == comm_id
                    and wanted(content.get("data", {}), buffers)):
                return content["data"]


def _explorer_parts(states: dict) -> tuple[str, str, str]:
    """An explorer's return_state control, shapes text and figure's canvas (their model ids)."""
    def classes(model_id):
        return states[model_id]["state"].get("_dom_classes", [])

    def under(model_id):  # the model and every widget inside it
        found, todo = [], [model_id]
        while todo:
            current = todo.pop()
            found.append(current)
            refs = states[current]["state"].get("children", [])
            todo.extend(ref.removeprefix("IPY_MODEL_") for ref in refs if ref.removeprefix("IPY_MODEL_") in states)
        return found

    for root in (m for m in states if "rnnviz-explorer" in classes(m)):
        parts = under(root)
        flag = next((m for m in parts if "rnnviz-return-state" in classes(m)), None)
        code = next((m for m in parts if "rnnviz-code" in classes(m)), None)
        canvas = next((m for m in parts if states[m]["model_name"] == CANVAS_MODEL), None)
        if flag and code and canvas:
            return flag, code, canvas
    raise LookupError("no rnnviz explorer (return_state control, shapes text and canvas) among the page's widgets")


#: Requests a browser keeps open to one server at a time (HTTP/1.1).
CONNECTIONS = 6
# tornado's client queues all but 10 requests at a time unless told otherwise: visitors arrive together
AsyncHTTPClient.configure(None, max_clients=1000)


async def visit(url: str, timeout: float, assets: tuple[str, ...] = ()) -> float:
    """Seconds from the GET of the dashboard at ``url`` until a click on return_state changed its shapes text.
    ``assets``: the paths (with their queries) of the files the page loads from the same server."""
    t0 = time.perf_counter()
    gate = asyncio.Semaphore(CONNECTIONS)

    async def get(address: str) -> bytes:
        async with gate:
            answer = await AsyncHTTPClient().fetch(address, connect_timeout=timeout, request_timeout=timeout)
        return answer.body

    config = json.loads(CONFIG.search((await get(url)).decode()).group(1))
    where = urlsplit(url)
    origin = f"{where.scheme}://{where.netloc}"
    await asyncio.gather(*(get(origin + path) for path in assets))
    await get(f"{origin}{config['baseUrl']}api/kernels/{config['kernelId']}?{where.query}")
    session = uuid.uuid4().hex
    socket_url = (f"ws://{where.netloc}{config['baseUrl']}api/kernels/{config['kernelId']}/channels"
                  f"?session_id={session}&{where.query}")
    socket = await websocket_connect(socket_url, subprotocols=[SUBPROTOCOL], max_message_size=2**30)
    try:
        await asyncio.wait_for(_use(Visitor(socket, session)), timeout)
    finally:
        socket.close()
    return time.perf_counter() - t0


async def _use(visitor: Visitor) -> None:
    """Steps 2-5 of a visit (see the module's text)."""
    await visitor.send("kernel_info_request", {})
    control = uuid.uuid4().hex
    await visitor.send("comm_open", {"comm_id": control, "target_name": "jupyter.widget.control", "data": {}},
                       {"version": "1.0.0"})
    await visitor.comm_msg(control, {"method": "request_states"})
    states = (await visitor.comm_msg_from(control, lambda data, _: data.get("method") == "update_states"))["states"]
    await visitor.send("comm_close", {"comm_id": control, "data": {}})
    flag, code, canvas = _explorer_parts(states)
    for model_id, model in states.items():
        if model["model_name"] == CANVAS_MODEL:
            for kind in CANVAS_HELLO:
                await visitor.comm_msg(model_id, {"method": "custom", "content": {"type": kind}})
    await visitor.comm_msg_from(canvas, lambda _, buffers: bool(buffers))  # the explorer's figure: an image
    before, shown = states[code]["state"]["value"], states[flag]["state"]
    other = ({"index": 1 - shown["index"]} if "index" in shown  # ToggleButtons, or a Checkbox
             else {"value": not shown["value"]})
    await visitor.comm_msg(flag, {"method": "update", "state": other, "buffer_paths": []})
    await visitor.comm_msg(flag, {"method": "custom", "content": {"event": "click"}})
    await visitor.comm_msg_from(code, lambda data, _: data.get("method") == "update"
                                and data.get("state", {}).get("value", before) != before)
