"""The baseline: a bare FastAPI endpoint served exactly like the shop (uvicorn, httptools,
uvloop, no access log). ``python bench/bare_app.py PORT`` prints ``ready URL`` once listening."""

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
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, http="httptools", loop="uvloop")
    server = uvicorn.Server(config)
    print(f"ready http://127.0.0.1:{port}", flush=True)
    server.run()
