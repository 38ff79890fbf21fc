#!/usr/bin/env python3
"""End-to-end UCP shopping flow against Cartwright over A2A 0.3 JSON-RPC, driven by a2a-sdk 1.3.0.

The SDK resolves the agent card; because the card says protocolVersion "0.3.0" the client factory
selects the v0.3 compat JSON-RPC transport (message/send, tasks/get, objects with "kind").

  python shopping_flow.py --url http://127.0.0.1:8080 --token JWT \
      --profile https://agent.example/profile.json --mode nonblocking [-v]

Exit 0 on success, 1 on any failed expectation or protocol error.
"""
import argparse
import asyncio
import json
import sys
import time
import uuid

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.helpers import get_data_parts, new_data_part, new_text_part
from a2a.types.a2a_pb2 import GetTaskRequest, Message, Part, Role, SendMessageRequest, Task, TaskState
from a2a.utils.errors import A2AError
from google.protobuf.json_format import MessageToDict

UCP_EXTENSION = "https://ucp.dev/specification/reference?v=2026-01-11"
PAYMENT_DATA = {
    "id": "instr_1", "handler_id": "example_payment_provider", "type": "card", "brand": "visa",
    "last_digits": "4242", "credential": {"type": "token", "token": "tok_secret_123"},
}
BUYER = {
    "first_name": "Jane", "last_name": "Doe", "street_address": "1 Main St",
    "address_locality": "Springfield", "address_region": "IL", "postal_code": "62701",
    "address_country": "US", "email": "jane@example.com",
}
POLL_INTERVAL = 0.2  # seconds between tasks/get calls in nonblocking mode
TERMINAL = {TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELED,
            TaskState.TASK_STATE_REJECTED, TaskState.TASK_STATE_INPUT_REQUIRED,
            TaskState.TASK_STATE_AUTH_REQUIRED}


class FlowError(Exception):
    pass


def expect(ok, what, expected, got):
    if not ok:
        raise FlowError(f"{what}\n  expected: {expected}\n  got:      {got}")


def state_name(state):
    return TaskState.Name(state).removeprefix("TASK_STATE_").lower().replace("_", "-")


def find_data(task, key):
    """The data part of status.message that carries `key` (the contract puts results there)."""
    for data in get_data_parts(task.status.message.parts):
        if isinstance(data, dict) and key in data:
            return data
    raise FlowError(f"no data part with key {key!r} in status.message of task {task.id}\n"
                    f"  got: {summary(task)}")


def summary(task):
    return json.dumps(MessageToDict(task))[:2000]


class ShoppingSession:
    def __init__(self, client, blocking, poll_timeout):
        self.client, self.blocking, self.poll_timeout = client, blocking, poll_timeout
        self.context_id = None

    async def send(self, *parts: Part) -> Task:
        msg = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=list(parts),
                      context_id=self.context_id or "")
        request = SendMessageRequest(message=msg)
        request.configuration.return_immediately = not self.blocking  # 0.3 wire: blocking = not this
        task = None
        async for event in self.client.send_message(request):
            expect(event.HasField("task"), "message/send result kind", "task", event)
            task = event.task
        expect(task is not None, "message/send result", "a Task", None)
        if not self.blocking:
            expect(task.status.state == TaskState.TASK_STATE_SUBMITTED, "non-blocking send state",
                   "submitted", state_name(task.status.state))
            task = await self.wait(task.id)
        if self.context_id is None:
            expect(bool(task.context_id), "server-assigned contextId", "non-empty", repr(task.context_id))
            self.context_id = task.context_id
        expect(task.context_id == self.context_id, "contextId reused", self.context_id, task.context_id)
        expect(task.status.state == TaskState.TASK_STATE_COMPLETED, f"task {task.id} state",
               "completed", f"{state_name(task.status.state)}: {summary(task)}")
        return task

    async def wait(self, task_id: str) -> Task:
        deadline = time.monotonic() + self.poll_timeout
        while True:
            task = await self.client.get_task(GetTaskRequest(id=task_id, history_length=2))
            if task.status.state in TERMINAL:
                return task
            if time.monotonic() >= deadline:
                raise FlowError(f"timeout: task {task_id} still {state_name(task.status.state)} "
                                f"after {self.poll_timeout:.0f}s of polling tasks/get")
            await asyncio.sleep(POLL_INTERVAL)

    async def action(self, name, *extra_parts, **params):
        return await self.send(new_data_part({"action": name, **params}), *extra_parts)


def checkout_of(task):
    data = find_data(task, "a2a.ucp.checkout")
    expect(data.get("status") == "success", "checkout result status", "success", data.get("status"))
    return data["a2a.ucp.checkout"]


async def run(args) -> str:
    headers = {
        "Authorization": f"Bearer {args.token}",
        "X-A2A-Extensions": UCP_EXTENSION,
        "UCP-Agent": f'profile="{args.profile}"',
    }
    hooks = {}
    if args.verbose:
        async def log_request(request):
            shown = {k: ("Bearer ***" if k.lower() == "authorization" else v) for k, v in request.headers.items()}
            print(f"--> {request.method} {request.url}\n    headers: {shown}")
            if request.content:
                print(f"    body: {request.content.decode()}")
        hooks = {"request": [log_request]}

    # One shared httpx client: its default headers go on every request (card fetch and JSON-RPC).
    async with httpx.AsyncClient(headers=headers, timeout=args.http_timeout, event_hooks=hooks) as http:
        card = await A2ACardResolver(http, args.url).get_agent_card()
        iface = card.supported_interfaces[0]
        print(f"card: {card.name!r} {iface.protocol_binding} v{iface.protocol_version} at {iface.url}")
        expect(iface.protocol_version.startswith("0.3"), "card protocolVersion", "0.3.x", iface.protocol_version)
        expect(any(e.uri == UCP_EXTENSION for e in card.capabilities.extensions),
               "card declares UCP extension", UCP_EXTENSION, [e.uri for e in card.capabilities.extensions])
        config = ClientConfig(httpx_client=http, streaming=False, supported_protocol_bindings=["JSONRPC"])
        client = ClientFactory(config).create(card)
        s = ShoppingSession(client, args.mode == "blocking", args.poll_timeout)

        task = await s.send(new_text_part("find cookies"),
                            new_data_part({"action": "search_shopping_catalog", "query": "cookies"}))
        results = find_data(task, "a2a.product_results")["a2a.product_results"].get("results", [])
        ids = [p.get("productID") for p in results]
        expect("BISC-001" in ids, "search results", "BISC-001 among productIDs", ids)
        print(f"[1/5] search_shopping_catalog 'cookies': {len(ids)} results incl. BISC-001 "
              f"(context {s.context_id})")

        co = checkout_of(await s.action("add_to_checkout", product_id="BISC-001", quantity=2))
        items = {li.get("item", {}).get("id"): li.get("quantity") for li in co.get("line_items", [])}
        expect(items.get("BISC-001") == 2, "BISC-001 quantity", 2, items)
        expect(co.get("status") == "incomplete", "checkout status", "incomplete", co.get("status"))
        total = next((t.get("amount") for t in co.get("totals", []) if t.get("type") == "total"), None)
        total = int(total) if isinstance(total, float) and total.is_integer() else total  # Value numbers are doubles
        print(f"[2/5] add_to_checkout BISC-001 x2: checkout {co.get('id')} incomplete, total {total}")

        co = checkout_of(await s.action("update_customer_details", **BUYER))
        print(f"[3/5] update_customer_details: checkout {co.get('status')}")

        co = checkout_of(await s.action("start_payment"))
        expect(co.get("status") == "ready_for_complete", "checkout status", "ready_for_complete", co.get("status"))
        print("[4/5] start_payment: checkout ready_for_complete")

        co = checkout_of(await s.action(
            "complete_checkout", new_data_part({"a2a.ucp.checkout.payment_data": PAYMENT_DATA})))
        expect(co.get("status") == "completed", "checkout status", "completed", co.get("status"))
        order_id = str((co.get("order") or {}).get("id", ""))
        expect(order_id.startswith("ORD-"), "order id", "ORD-...", co.get("order"))
        print(f"[5/5] complete_checkout: checkout completed, order {order_id}")
        await client.close()
        return order_id


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="server base URL (card at BASE/.well-known/agent-card.json)")
    p.add_argument("--token", required=True, help="bearer JWT")
    p.add_argument("--profile", required=True, help="UCP agent profile URL for the UCP-Agent header")
    p.add_argument("--mode", choices=["blocking", "nonblocking"], default="blocking")
    p.add_argument("--poll-timeout", type=float, default=30.0, help="max seconds to poll one task")
    p.add_argument("--http-timeout", type=float, default=60.0, help="per HTTP request timeout (s)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every HTTP request the SDK sends")
    args = p.parse_args()
    try:
        order_id = asyncio.run(run(args))
    except FlowError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except (A2AError, httpx.HTTPError, ValueError) as e:  # transport/JSON-RPC errors, malformed responses
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"shopping flow ok ({args.mode}), order {order_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
