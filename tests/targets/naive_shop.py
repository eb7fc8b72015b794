"""A deliberately naive 发卡 shop, written the way many small shops are (for the drill tests).

Everything is synchronous, in the request's thread, on one SQLite file: the notify handler
takes the first unsold key without a lock (and mails the buyer in between, synchronously),
never checks the amount, the merchant or whether the order was already paid, and answers
`success` to every notification — also when the signature is wrong or it crashed — so the
gateway never retries. Its payment page is a self-submitting form to the gateway's submit.php.

    python naive_shop.py --port 8123 --db naive.db --gateway http://127.0.0.1:9107 \\
        --pid 1000 --key KEY --keys 25

Standard library only (the test runs it with fakalab's interpreter, but it imports nothing of
fakalab): http.server, sqlite3, hashlib.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import html
import json
import secrets
import sqlite3
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MAIL_S = 0.15  # "sending the buyer an e-mail", inside the notify handler
PRICE = "10"


def sign(params: dict[str, str], key: str) -> str:
    text = "&".join(f"{k}={params[k]}" for k in sorted(params)
                    if params[k] != "" and k not in ("sign", "sign_type"))
    return hashlib.md5((text + key).encode()).hexdigest()


class Shop:
    def __init__(self, db: str, gateway: str, pid: str, key: str, public: str,
                 never_deliver: bool = False) -> None:
        self.db, self.gateway, self.pid, self.key, self.public = db, gateway, pid, key, public
        self.never_deliver = never_deliver  # its worker is "down": notifications go nowhere

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db, timeout=10)

    def setup(self, keys: int) -> None:
        with self.connect() as conn:
            conn.executescript("""
                create table if not exists goods (id text primary key, name text, price text);
                create table if not exists cards (id integer primary key, goods_id text,
                                                  secret text, sold integer default 0);
                create table if not exists orders (sn text primary key, goods_id text,
                                                   email text, money text, status text,
                                                   card text default '', created_at real);
            """)
            if not conn.execute("select count(*) from goods").fetchone()[0]:
                conn.execute("insert into goods values ('1', 'Game card', ?)", (PRICE,))
                conn.executemany("insert into cards (goods_id, secret) values ('1', ?)",
                                 [(f"NAIVE-{i:04d}-{secrets.token_hex(4)}",) for i in range(keys)])

    def create(self, goods_id: str, email: str) -> str:
        sn = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(3)
        with self.connect() as conn:
            conn.execute("insert into orders values (?, ?, ?, ?, 'wait_pay', '', ?)",
                         (sn, goods_id, email, PRICE, time.time()))
        return sn

    def pay_page(self, sn: str) -> str:
        fields = {"pid": self.pid, "type": "alipay", "out_trade_no": sn,
                  "notify_url": f"{self.public}/notify", "return_url": f"{self.public}/order/{sn}",
                  "name": "Game card", "money": PRICE}
        fields |= {"sign": sign(fields, self.key), "sign_type": "MD5"}
        inputs = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
                         for k, v in fields.items())
        return (f'<html><body><form id="pay" method="post" action="{self.gateway}/submit.php">'
                f'{inputs}</form><script>document.getElementById("pay").submit();</script>'
                f"</body></html>")

    def notify(self, fields: dict[str, str]) -> None:
        if self.never_deliver or sign(fields, self.key) != fields.get("sign", "").lower():
            return  # not applied, and the gateway is told "success" anyway
        sn = fields.get("out_trade_no", "")
        with self.connect() as conn:
            if conn.execute("select 1 from orders where sn = ?", (sn,)).fetchone() is None:
                return
            card = conn.execute("select id, secret from cards where sold = 0 order by id "
                                "limit 1").fetchone()
            if card is None:
                raise RuntimeError("out of cards")
        time.sleep(MAIL_S)  # mail the buyer before marking the key sold: no lock held
        with self.connect() as conn:
            conn.execute("update cards set sold = 1 where id = ?", (card[0],))
            conn.execute("update orders set status = 'completed', card = ? where sn = ?",
                         (card[1], sn))

    def order(self, sn: str) -> tuple[str, str] | None:
        with self.connect() as conn:
            row = conn.execute("select status, card from orders where sn = ?", (sn,)).fetchone()
        return None if row is None else (row[0], row[1])


def handler(shop: Shop) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def send(self, status: int, body: str, kind: str = "application/json") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/api/goods":
                self.send(200, json.dumps([{"id": "1", "name": "Game card", "price": PRICE}]))
            elif url.path.startswith("/pay/"):
                self.send(200, shop.pay_page(url.path.removeprefix("/pay/")), "text/html")
            elif url.path == "/notify":
                with contextlib.suppress(Exception):  # the naive part: swallow it all
                    shop.notify(dict(parse_qsl(url.query)))
                self.send(200, "success", "text/plain")
            elif url.path.startswith("/api/order/"):
                found = shop.order(url.path.removeprefix("/api/order/"))
                if found is None:
                    self.send(404, json.dumps({"code": 404, "msg": "order not found"}))
                else:
                    self.send(200, json.dumps({"code": 200, "status": found[0]}))
            elif url.path.startswith("/order/"):
                found = shop.order(url.path.removeprefix("/order/"))
                card = html.escape(found[1]) if found else ""
                self.send(200, f'<html><body><textarea id="card">{card}</textarea>'
                          f"</body></html>", "text/html")
            else:
                self.send(404, json.dumps({"code": 404}))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            fields = dict(parse_qsl(self.rfile.read(length).decode()))
            if urlsplit(self.path).path != "/api/order":
                self.send(404, json.dumps({"code": 404}))
                return
            sn = shop.create(fields.get("goods_id", "1"), fields.get("email", ""))
            self.send(200, json.dumps({"code": 200, "data": {
                "order_sn": sn, "pay_url": f"{shop.public}/pay/{sn}"}}))

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--pid", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--keys", type=int, default=25)
    parser.add_argument("--never-deliver", action="store_true")
    args = parser.parse_args()
    public = f"http://127.0.0.1:{args.port}"
    shop = Shop(args.db, args.gateway.rstrip("/"), args.pid, args.key, public,
                args.never_deliver)
    shop.setup(args.keys)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(shop))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
