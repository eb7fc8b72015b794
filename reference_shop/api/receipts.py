"""Receipt routes (docs/receipts.md): the shop's public key, its latest signed tree head,
consistency proofs between heads, and a buyer's receipt of an order (token-protected like the
status route)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from fakalab.reference_shop.api.buyer import _authorised
from fakalab.reference_shop.api.deps import error, get_shop
from fakalab.reference_shop.api.models import errors
from fakalab.reference_shop.composition import Shop
from fakalab.reference_shop.receipts import NotLogged, Receipts

__all__ = ["router"]

router = APIRouter(prefix="/api")
ShopDep = Annotated[Shop, Depends(get_shop)]
OFF = "receipts are off in this shop"
RETRY = {"Retry-After": "1"}


class PublicKey(BaseModel):
    algorithm: str = "Ed25519"
    public_key: str = Field(description="Raw Ed25519 public key, hex")


class SignedHead(BaseModel):
    size: int
    root: str
    at: float
    signature: str


class HeadOut(BaseModel):
    public_key: str
    tree_head: SignedHead


class ConsistencyOut(BaseModel):
    from_size: int
    to_size: int
    proof: list[str]


class Milestone(BaseModel):
    order_no: str
    seq: int
    at: float
    state: str
    message: str
    eta_at: float | None
    visible: bool


class Inclusion(BaseModel):
    index: int
    path: list[str]


class Consistency(BaseModel):
    from_size: int
    proof: list[str]


class ReceiptOut(BaseModel):
    version: int
    order_no: str
    public_key: str
    tree_head: SignedHead
    events: list[Milestone]
    proofs: list[Inclusion]
    pending: list[Milestone] = Field(description="Events not yet in a signed head")
    consistency: list[Consistency]


def _receipts(shop: Shop) -> Receipts | JSONResponse:
    return shop.receipts if shop.receipts is not None else error(404, OFF)


@router.get("/receipts/key", response_model=PublicKey, responses=errors(404))
async def receipt_key(shop: ShopDep) -> Any:
    receipts = _receipts(shop)
    if isinstance(receipts, JSONResponse):
        return receipts
    return {"algorithm": "Ed25519", "public_key": receipts.public_key}


@router.get("/receipts/head", response_model=HeadOut, responses=errors(404, 409))
async def receipt_head(shop: ShopDep) -> Any:
    receipts = _receipts(shop)
    if isinstance(receipts, JSONResponse):
        return receipts
    if receipts.head is None:
        return JSONResponse({"error": "no head signed yet", "status": 409}, 409, RETRY)
    return {"public_key": receipts.public_key, "tree_head": receipts.head.as_dict()}


@router.get("/receipts/consistency", response_model=ConsistencyOut,
            responses=errors(404, 409))
async def receipt_consistency(shop: ShopDep, from_size: Annotated[int, Query(ge=1)],
                              to_size: Annotated[int | None, Query(ge=1)] = None) -> Any:
    """The proof that the log of ``to_size`` entries (default: the latest head) extends the
    one of ``from_size``."""
    receipts = _receipts(shop)
    if isinstance(receipts, JSONResponse):
        return receipts
    try:
        proof = receipts.consistency(from_size, to_size)
    except NotLogged as exc:
        return error(409, str(exc))
    size = to_size if to_size is not None else receipts.head.size if receipts.head else 0
    return {"from_size": from_size, "to_size": size, "proof": proof}


@router.get("/orders/{order_no}/receipt", responses={200: {"model": ReceiptOut},
                                                     **errors(404, 409, 429)})
async def order_receipt(
        order_no: str, request: Request, shop: ShopDep,
        x_order_token: Annotated[str | None, Header()] = None,
        since: Annotated[list[Annotated[int, Field(ge=1)]] | None,
                         Query(max_length=16, description="Sizes of signed heads the buyer "
                               "holds: a consistency proof from each")] = None) -> Response:
    """The order's receipt: its events with inclusion proofs against the latest signed head
    (``fakalab receipt verify`` checks it offline)."""
    receipts = _receipts(shop)
    if isinstance(receipts, JSONResponse):
        return receipts
    view = await _authorised(shop, request, order_no, x_order_token)
    if isinstance(view, JSONResponse):
        return view
    try:
        return JSONResponse(await receipts.receipt(order_no, since or ()))
    except NotLogged as exc:
        return JSONResponse({"error": str(exc), "status": 409}, 409, RETRY)
