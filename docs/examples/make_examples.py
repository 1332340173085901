"""Write the small example files the README and docs read (re-run to regenerate them).

    python docs/examples/make_examples.py

Every file comes from the synthetic shop (``repurchase_ml.make_event_log``),
reshaped into the layout of a real export, so the docs' code blocks run as
written from this folder (tests/test_docs.py runs them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import repurchase_ml as rm

HERE = Path(__file__).resolve().parent


def _purchases(n: int, start: str, end: str, seed: int) -> pd.DataFrame:
    events, _truth = rm.make_event_log(n, start, end, random_state=seed)
    buys = events[events["event_type"] == "purchase"].reset_index(drop=True)
    return buys


def uci_orders() -> pd.DataFrame:
    """Order lines as in UCI "Online Retail II": one row per line, no cancellations."""
    buys = _purchases(150, "2023-01-01", "2024-07-01", seed=1)
    quantity = buys["quantity"].fillna(1).clip(lower=1).astype(int)
    return pd.DataFrame({
        "Invoice": buys["order_id"].str.replace(r"\D", "", regex=True).str.zfill(6),
        "StockCode": buys["item_id"],
        "Description": "item " + buys["item_id"].astype(str),
        "Quantity": quantity,
        "InvoiceDate": buys["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        "Price": (buys["amount"] / quantity).round(2),
        "Customer ID": 12000 + buys["customer_id"],
        "Country": buys["channel"].map({"web": "United Kingdom", "app": "Germany"})
        .fillna("France"),
    })


def tmall_orders() -> pd.DataFrame:
    """A Tmall seller-centre order export: one row per order, Chinese headers."""
    buys = _purchases(40, "2023-06-01", "2024-06-01", seed=2)
    orders = buys.groupby("order_id", as_index=False).agg(
        customer_id=("customer_id", "first"), timestamp=("timestamp", "min"),
        amount=("amount", "sum"))
    names = ["小明", "王芳", "李伟", "张静", "刘洋", "陈杰", "杨丽", "赵磊", "黄敏", "周涛"]
    buyer = [f"{names[c % len(names)]}{c:03d}" for c in orders["customer_id"]]
    created = orders["timestamp"] - pd.to_timedelta(np.arange(len(orders)) % 7 + 1, unit="min")
    return pd.DataFrame({
        "订单编号": [f"{3_800_000_000_000 + i * 7919}" for i in range(len(orders))],
        "买家会员名": buyer,
        "买家实际支付金额": orders["amount"].round(2),
        "订单状态": "交易成功",
        "订单创建时间": created.dt.strftime("%Y-%m-%d %H:%M:%S"),
        "订单付款时间": orders["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"),
    })


def shopify_orders() -> pd.DataFrame:
    """A Shopify order export: one row per line item, times with a UTC offset."""
    buys = _purchases(25, "2024-01-01", "2024-07-01", seed=3).head(80)
    quantity = buys["quantity"].fillna(1).clip(lower=1).astype(int)
    return pd.DataFrame({
        "Name": "#" + (1000 + buys["order_id"].factorize()[0]).astype(str),
        "Email": "customer" + buys["customer_id"].astype(str) + "@example.com",
        "Created at": buys["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S +0100"),
        "Lineitem quantity": quantity,
        "Lineitem price": (buys["amount"] / quantity).round(2),
        "Lineitem sku": "SKU-" + buys["item_id"].astype(str),
    })


def taobao_behaviour() -> pd.DataFrame:
    """The Taobao UserBehavior layout: views, carts, favourites, buys; Unix seconds."""
    events, _truth = rm.make_event_log(20, "2017-11-25", "2017-12-04", random_state=4)
    events = events.drop_duplicates(["customer_id", "item_id", "event_type", "timestamp"])
    behaviour = events["event_type"].astype(str).map(
        {"view": "pv", "cart": "cart", "favorite": "fav", "purchase": "buy"})
    keep = behaviour.notna()
    stamp = (events["timestamp"] - pd.Timedelta(hours=8)).astype("int64") // 10**9
    return pd.DataFrame({
        "user_id": 100_000 + events.loc[keep, "customer_id"],
        "item_id": events.loc[keep, "item_id"].str.replace(r"\D", "", regex=True),
        "category_id": 4000 + events.loc[keep, "category"].factorize()[0],
        "behavior_type": behaviour[keep],
        "timestamp": stamp[keep],
    })


if __name__ == "__main__":
    uci_orders().to_csv(HERE / "orders.csv", index=False)
    # Tmall's seller centre writes GBK, as Excel on a Chinese Windows does
    tmall_orders().to_csv(HERE / "tmall_orders.csv", index=False, encoding="gbk")
    shopify_orders().to_csv(HERE / "orders_export.csv", index=False)
    taobao_behaviour().to_csv(HERE / "UserBehavior.csv", index=False)
    for path in sorted(HERE.iterdir()):
        print(f"{path.name}: {path.stat().st_size:,} bytes")
