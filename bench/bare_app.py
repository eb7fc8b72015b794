"""The baseline: a bare FastAPI endpoint served exactly like the shop (uvicorn, httptools,
uvloop, no access log). ``python bench/bare_app.py PORT [--guarded]`` prints ``ready URL`` once
listening; ``--guarded`` serves it behind the shop's connection guard (reference_shop/guard.py)."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, object]:
    return {"order_no": "2611240000000000", "state": "delivered", "message": "hello"}


if __name__ == "__main__":
    port = int(sys.argv[1])
    http: object = "httptools"
    if "--guarded" in sys.argv:
        from fakalab.reference_shop.guard import ConnectionLimits, Refusals, guarded_protocol

        http = guarded_protocol(ConnectionLimits(), Refusals())
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, http=http, loop="uvloop")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    print(f"ready http://127.0.0.1:{port}", flush=True)
    server.run()
