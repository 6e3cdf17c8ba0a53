"""``woobridge sandbox`` (serve a local WooCommerce stand-in) and ``woobridge demo`` (show it working)."""

from __future__ import annotations

import gc
import logging
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import typer
from rich.console import Console
from rich.table import Table

from woobridge.sandbox.app import ADMIN_PREFIX, Sandbox
from woobridge.sandbox.server import ADMIN_TOKEN_ENV, DEFAULT_TLS_DIR, ServedSandbox, serve_until_signalled
from woobridge.sandbox.state import IssuedKey, Settings, Store, User
from woobridge.sandbox.switches import Modes

console = Console(highlight=False)

DEMO_SEED = {"products": 40, "orders": 300, "customers": 40}


@dataclass
class SandboxKeys:
    """The keys printed at start: an administrator's three permissions, a shop manager's, a subscriber's."""

    admin_read_write: IssuedKey
    admin_read: IssuedKey
    admin_write: IssuedKey
    shop_manager: IssuedKey
    subscriber: IssuedKey

    def labelled(self) -> list[tuple[str, IssuedKey]]:
        labels = {
            "admin_read_write": "administrator · read_write",
            "admin_read": "administrator · read",
            "admin_write": "administrator · write",
            "shop_manager": "shop manager · read_write",
            "subscriber": "subscriber · read_write",
        }
        return [(labels[f.name], getattr(self, f.name)) for f in fields(self)]


def issue_sandbox_keys(store: Store) -> SandboxKeys:
    """Issue fresh keys, reusing the sandbox's own users across restarts of a state file."""

    def user(role: str, login: str) -> User:
        found = next((u for u in store.users.values() if u.login == login and u.role == role), None)
        return found or store.add_user(role, login)

    with store.lock:
        admin = user("administrator", "admin")
        manager = user("shop_manager", "manager")
        subscriber = user("subscriber", "reader")
        description = "woobridge sandbox"
        return SandboxKeys(
            admin_read_write=store.issue_key(admin, "read_write", description),
            admin_read=store.issue_key(admin, "read", description),
            admin_write=store.issue_key(admin, "write", description),
            shop_manager=store.issue_key(manager, "read_write", description),
            subscriber=store.issue_key(subscriber, "read_write", description),
        )


def parse_mode(spec: str) -> tuple[str, Any]:
    """``permalinks=plain`` / ``maintenance=true`` → (name, typed value), typed after the switch's default."""
    name, sep, raw = spec.partition("=")
    name = name.strip().replace("-", "_")
    defaults = Modes().as_dict()
    if not sep or name not in defaults:
        raise typer.BadParameter(f"{spec!r}: expected name=value with name one of {', '.join(sorted(defaults))}")
    raw = raw.strip()
    if isinstance(defaults[name], bool):
        truthy, falsy = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
        if raw.lower() not in truthy | falsy:
            raise typer.BadParameter(f"{spec!r}: {name} is a switch; use true or false")
        return name, raw.lower() in truthy
    return name, raw


def apply_modes(sandbox: Sandbox, specs: list[str]) -> None:
    changes = dict(parse_mode(spec) for spec in specs)
    try:
        sandbox.modes.update(changes)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def apply_faults(sandbox: Sandbox, specs: list[str]) -> None:
    """Install ``--fault`` specs as the sandbox's fault plan (syntax: ``faults.parse_fault_spec``)."""
    if not specs:
        return
    from woobridge.sandbox.faults import parse_fault_spec

    rules = []
    for spec in specs:
        try:
            rules.append(parse_fault_spec(spec))
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--fault") from None
    sandbox.faults.replace(rules)


def build_sandbox(
    state: Path | None,
    seed_spec: str | None,
    timezone: str,
    wc_version: str,
    modes: list[str],
    faults: list[str],
) -> tuple[Sandbox, dict[str, int] | None]:
    """The store (fresh or from a state file), configured and seeded; returns it and the seed counts."""
    from woobridge.sandbox.seed import parse_seed_spec, seed

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris") from None
    try:
        counts = parse_seed_spec(seed_spec) if seed_spec else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--seed-data") from None
    store = Store(Settings(), path=state) if state else Store(Settings())
    fresh = store.is_empty
    store.settings.timezone = timezone
    store.settings.wc_version = wc_version
    store.save_settings()
    sandbox = Sandbox(store, admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None)
    apply_modes(sandbox, modes)
    apply_faults(sandbox, faults)
    seeded = None
    if counts is not None and fresh:
        seeded = seed(store, **counts).counts()
    # The store lives as long as the process: keep its many objects out of the collector's full passes,
    # which would otherwise stall requests on a big seeded store.
    gc.collect()
    gc.freeze()
    return sandbox, seeded


def _object_counts(store: Store) -> str:
    kinds = ("product", "variation", "order", "customer", "coupon")
    return ", ".join(f"{len(store.objects[k])} {k}s" for k in kinds)


def _print_served(served: ServedSandbox, seeded: dict[str, int] | None, state: Path | None) -> None:
    store = served.sandbox.store
    lines = [f"[bold]Store[/]      {served.base_url}/", f"[bold]REST API[/]   {served.base_url}/wp-json/wc/v3/"]
    if served.ca_file:
        lines.append(f"[bold]CA file[/]    {served.ca_file.resolve()}   (clients: --ca-file)")
    else:
        lines.append("[bold]TLS[/]        none (--http): clients must sign with OAuth 1.0a")
    lines.append(f"[bold]Admin[/]      {served.base_url}{ADMIN_PREFIX}/   header X-Sandbox-Token: {served.admin_token}")
    lines.append(f"[bold]Data[/]       {_object_counts(store)}" + (f"  (state file {state})" if state else ""))
    lines.append(f"[bold]WooCommerce[/] {store.settings.wc_version}, time zone {store.settings.timezone}")
    changed = {k: v for k, v in served.sandbox.modes.as_dict().items() if v != getattr(Modes(), k)}
    if changed:
        lines.append("[bold]Modes[/]      " + ", ".join(f"{k}={v}" for k, v in changed.items()))
    console.rule("[bold]woobridge sandbox[/]", align="left")
    for line in lines:  # soft wrap: URLs, paths and tokens must stay copyable in one piece
        console.print(line, soft_wrap=True)


def _print_keys(keys: SandboxKeys) -> None:
    console.rule(
        "[bold yellow]SANDBOX API keys[/] (this local test store only; shown once)",
        align="left",
    )
    for label, key in keys.labelled():
        console.print(f"[bold]{label}[/]", soft_wrap=True)
        console.print(f"  consumer key     {key.consumer_key}", soft_wrap=True)
        console.print(f"  consumer secret  {key.consumer_secret}", soft_wrap=True)
    console.rule(style="dim")


def sandbox_command(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8443,
    http: Annotated[bool, typer.Option("--http", help="Serve plain HTTP instead of HTTPS.")] = False,
    tls_dir: Annotated[Path, typer.Option(help="Where the local CA and certificate are kept.")] = DEFAULT_TLS_DIR,
    state: Annotated[
        Path | None, typer.Option(help="Keep the store in this SQLite file across restarts (seeded only when new).")
    ] = None,
    seed_data: Annotated[
        str | None, typer.Option(help="Seed a new store, e.g. products=40,orders=500,customers=50.")
    ] = None,
    timezone: Annotated[str, typer.Option(help="The store's time zone.")] = "UTC",
    wc_version: Annotated[str, typer.Option(help="The WooCommerce version the store reports.")] = "11.0.1",
    mode: Annotated[
        list[str] | None, typer.Option(help="Misconfiguration switch name=value (repeatable), e.g. permalinks=plain.")
    ] = None,
    fault: Annotated[list[str] | None, typer.Option(help="Fault to inject (repeatable).")] = None,
) -> None:
    """Serve a local WooCommerce stand-in over HTTPS, with fresh API keys, until Ctrl-C."""
    sandbox, seeded = build_sandbox(state, seed_data, timezone, wc_version, mode or [], fault or [])
    keys = issue_sandbox_keys(sandbox.store)
    try:
        served = ServedSandbox(sandbox, port=port, http=http, tls_dir=tls_dir, log_level="info").start()
    except OSError as error:
        console.print(
            f"[red]Cannot listen on 127.0.0.1:{port}: {error.strerror}.[/] Pick another with --port (0 = any)."
        )
        raise typer.Exit(1) from None
    _print_served(served, seeded, state)
    _print_keys(keys)
    console.print("Serving until Ctrl-C.")
    try:
        serve_until_signalled(served)
    finally:
        sandbox.store.close()


def demo_command(
    tls_dir: Annotated[Path, typer.Option(help="Where the local CA and certificate are kept.")] = DEFAULT_TLS_DIR,
) -> None:
    """Start a seeded sandbox, make a signed request to it, list its newest orders, then run every flow between it
    and a staging ERP database (in a temporary directory), print what each did, and exit."""
    started = time.monotonic()
    # The demo prints each flow's notes itself; the same lines as log warnings would only repeat them out of order.
    logging.getLogger("woobridge.flows").setLevel(logging.ERROR)
    sandbox, seeded = build_sandbox(None, ",".join(f"{k}={v}" for k, v in DEMO_SEED.items()), "UTC", "11.0.1", [], [])
    keys = issue_sandbox_keys(sandbox.store)
    with ServedSandbox(sandbox, tls_dir=tls_dir) as served:
        store = sandbox.store
        lines = [
            f"[bold]Sandbox[/]    {served.base_url}/wp-json/wc/v3/  (CA {served.ca_file})",
            "[bold]Seeded[/]     " + ", ".join(f"{v} {k}" for k, v in (seeded or {}).items()),
            "[bold]Keys[/]       "
            + ", ".join(f"{label} …{store.keys[key.key_id].truncated_key}" for label, key in keys.labelled()),
        ]
        console.rule("[bold]woobridge demo[/]", align="left")
        for line in lines:
            console.print(line, soft_wrap=True)
        key = keys.admin_read
        auth = (key.consumer_key, key.consumer_secret)
        with httpx.Client(base_url=served.base_url, verify=served.verify, auth=auth, timeout=10) as client:
            status = client.get("/wp-json/wc/v3/system_status")
            _check(status, "system_status")
            environment = status.json().get("environment", {})
            console.print(
                f"GET /wp-json/wc/v3/system_status → {status.status_code}: WooCommerce "
                f"{environment.get('version', '?')}, WordPress {environment.get('wp_version', '?')}, "
                f"{environment.get('site_url', served.base_url)}"
            )
            newest = client.get("/wp-json/wc/v3/orders", params={"per_page": 5, "orderby": "date", "order": "desc"})
            _check(newest, "orders")
        table = Table(title=f"5 newest of {newest.headers.get('X-WP-Total', '?')} orders", title_justify="left")
        for column in ("order", "date", "status", "customer", "items", "total"):
            table.add_column(column, justify="right" if column in ("order", "items", "total") else "left")
        for order in newest.json():
            billing = order.get("billing") or {}
            table.add_row(
                f"#{order['number']}",
                str(order.get("date_created", "")).replace("T", " "),
                order.get("status", ""),
                f"{billing.get('first_name', '')} {billing.get('last_name', '')}".strip() or "guest",
                str(sum(int(line.get("quantity", 0)) for line in order.get("line_items", []))),
                f"{order.get('total', '')} {order.get('currency', '')}",
            )
        console.print(table)
        _connect_demo(served, keys)
        _sync_orders_demo(served, key)
    console.print(f"Done in {time.monotonic() - started:.1f} s.")


def _connect_demo(served: ServedSandbox, keys: SandboxKeys) -> None:
    """What `woobridge connect` checks, as a merchant following the setup guide would see it: the shop manager's
    Read/Write key passes, and the read-only key gets its diagnosis."""
    import asyncio

    from woobridge.commands import render
    from woobridge.flows import FLOW_PERMISSIONS
    from woobridge.woo import Credentials, validate

    console.rule("[bold]woobridge connect[/] → the sandbox, as the setup guide asks", align="left")
    for label, key in (("shop manager · Read/Write", keys.shop_manager), ("administrator · Read", keys.admin_read)):
        credentials = Credentials(served.base_url, key.consumer_key, key.consumer_secret, ca_file=str(served.ca_file))
        result = asyncio.run(validate(credentials, need_write=True))
        if result.ok and result.store is not None:
            console.print(render.success_header(f"{label}: valid in {result.requests} requests"))
            console.print(
                render.store_table(
                    result.store.to_dict(),
                    fingerprint=result.key_fingerprint,
                    permission=result.permission,
                    enabled_flows=list(FLOW_PERMISSIONS),
                    runnable=result.flows or {},
                    key_created=time.strftime("%Y-%m-%d"),
                )
            )
        elif result.diagnosis is not None:
            console.print(render.failure_header(f"{label}: refused"))
            render.print_diagnosis(console, result.diagnosis)


def _sync_orders_demo(served: ServedSandbox, key: IssuedKey) -> None:
    """The orders flow for real: a state database and a staging ERP database in a temporary directory, a
    connection to the served sandbox, one full sync and one incremental, and what they did."""
    import asyncio
    import tempfile
    from datetime import UTC, datetime

    from cryptography.fernet import Fernet

    from woobridge.commands.sync import print_failures, summary_table
    from woobridge.erp.staging import StagingErp
    from woobridge.flows import orders
    from woobridge.secrets import Vault
    from woobridge.state import Connection, StateDB
    from woobridge.woo import Credentials, WooClient

    with tempfile.TemporaryDirectory(prefix="woobridge-demo-") as work:
        db = StateDB(f"sqlite:///{work}/state.sqlite")
        erp = StagingErp(f"sqlite:///{work}/staging.sqlite")
        try:
            with db.session() as session:
                connection = Connection(
                    name="sandbox",
                    store_url=served.base_url,
                    ca_file=str(served.ca_file) if served.ca_file else None,
                    key_created_at=datetime.now(UTC),
                    flows=["orders"],
                )
                connection.store_key(Vault([Fernet.generate_key()], "demo"), key.consumer_key, key.consumer_secret)
                session.add(connection)
            credentials = Credentials(
                served.base_url, key.consumer_key, key.consumer_secret, ca_file=str(served.ca_file)
            )

            async def sync_twice() -> tuple[orders.OrdersReport, orders.OrdersReport]:
                async with WooClient(credentials, max_concurrency=8) as woo:
                    first = await orders.run(db, "sandbox", erp=erp, woo=woo)
                    second = await orders.run(db, "sandbox", erp=erp, woo=woo)
                return first, second

            first, second = asyncio.run(sync_twice())
            shipped = _fulfillment_demo(served, db, erp)
            stocked = _inventory_demo(served, db, erp)
            catalog = _catalog_demo(served, db, erp)
        finally:
            erp.close()
            db.close()
    console.rule("[bold]woobridge sync orders[/] → staging ERP database", align="left")
    console.print(summary_table(first, title="First sync: every order in an imported status"))
    print_failures(console, first)
    console.print(
        f"Second sync (nothing changed): {second.requests} request(s), {second.counts['created']} created, "
        f"{second.counts['updated']} updated."
    )
    _print_fulfillment_demo(*shipped)
    _print_inventory_demo(*stocked)
    _print_catalog_demo(*catalog)


def _fulfillment_demo(served: ServedSandbox, db: Any, erp: Any) -> tuple[Any, dict[str, Any], str]:
    """The fulfillment flow for real: the ERP writes a shipment for a processing order into the staging tables
    (``shipments``), and ``sync fulfillment`` puts it on the sandbox order (a customer note with the tracking, the
    order completed). Returns the run's report, the order as the store now has it, and the note."""
    import asyncio
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from woobridge.erp.staging.models import shipments
    from woobridge.flows import fulfillment
    from woobridge.woo import Credentials, WooClient

    store = served.sandbox.store
    with store.lock:
        order = next(o for o in store.all("order") if o.get("status") == "processing" and o.get("line_items"))
        admin = next(u for u in store.users.values() if u.role == "administrator")
        key = store.issue_key(admin, "read_write", "woobridge demo: fulfillment")
    order_id = int(order["id"])
    with erp.engine.begin() as staging:  # what the ERP does when a parcel leaves
        staging.execute(
            insert(shipments).values(
                erp_shipment_id="SH-DEMO-1",
                connection="sandbox",
                store_order_id=order_id,
                carrier="UPS",
                tracking_number="1Z999AA10123456784",
                tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
                shipped_at=datetime.now(UTC),
            )
        )
    credentials = Credentials(served.base_url, key.consumer_key, key.consumer_secret, ca_file=str(served.ca_file))

    async def push() -> tuple[Any, dict[str, Any], str]:
        async with WooClient(credentials) as woo:
            report = await fulfillment.run(db, "sandbox", erp=erp, woo=woo)
            after = await woo.get(f"orders/{order_id}")
            notes = await woo.get(f"orders/{order_id}/notes", {"type": "customer"})
        return report, after, str(notes[0]["note"]) if notes else ""

    return asyncio.run(push())


def _print_fulfillment_demo(report: Any, order: dict[str, Any], note: str) -> None:
    from woobridge.commands.sync import _fulfillment_table

    console.rule("[bold]woobridge sync fulfillment[/] ← a shipment in the staging table shipments", align="left")
    console.print(_fulfillment_table(report))
    console.print(f"Order #{order.get('number')} is now [bold]{order.get('status')}[/]; the customer's note reads:")
    for line in note.splitlines():
        console.print(f"  {line}", soft_wrap=True)


def _inventory_demo(served: ServedSandbox, db: Any, erp: Any) -> tuple[Any, Any, list[tuple[str, Any, Any]]]:
    """The inventory flow for real: the ERP writes stock levels into the staging table ``stock_levels`` (a few
    products and a variation, two warehouses, one SKU the store does not have), and ``sync inventory`` sets them on
    the sandbox products (twice: the second run writes nothing). Returns both reports and (SKU, ERP, store)."""
    import asyncio
    from decimal import Decimal

    from sqlalchemy import insert

    from woobridge.erp.staging.models import stock_levels
    from woobridge.flows import inventory
    from woobridge.woo import Credentials, WooClient

    store = served.sandbox.store
    with store.lock:
        managed = [p for p in store.all("product") if p.get("sku") and p.get("manage_stock") is True][:4]
        managed += [v for v in store.all("variation") if v.get("sku") and v.get("manage_stock") is True][:1]
        admin = next(u for u in store.users.values() if u.role == "administrator")
        key = store.issue_key(admin, "read_write", "woobridge demo: inventory")
    wanted = {str(obj["sku"]): int(obj.get("stock_quantity") or 0) + 7 for obj in managed}
    with erp.engine.begin() as staging:  # what the ERP does when stock moves: a level per SKU and warehouse
        rows = [
            {"sku": sku, "warehouse": "main", "quantity": Decimal(quantity - 2)} for sku, quantity in wanted.items()
        ]
        rows += [{"sku": sku, "warehouse": "east", "quantity": Decimal(2)} for sku in wanted]
        rows.append({"sku": "DEMO-NOT-IN-STORE", "warehouse": "main", "quantity": Decimal(5)})
        staging.execute(insert(stock_levels), rows)
    credentials = Credentials(served.base_url, key.consumer_key, key.consumer_secret, ca_file=str(served.ca_file))

    async def run() -> tuple[Any, Any, list[tuple[str, Any, Any]]]:
        async with WooClient(credentials, max_concurrency=8) as woo:
            first = await inventory.run(db, "sandbox", erp=erp, woo=woo)
            second = await inventory.run(db, "sandbox", erp=erp, woo=woo)
            found = await woo.get("products", {"sku": ",".join(wanted), "_fields": "sku,stock_quantity"})
        now = {str(item["sku"]): item.get("stock_quantity") for item in found}
        return first, second, [(sku, quantity, now.get(sku)) for sku, quantity in wanted.items()]

    return asyncio.run(run())


def _print_inventory_demo(first: Any, second: Any, rows: list[tuple[str, Any, Any]]) -> None:
    from rich.table import Table

    from woobridge.commands import render
    from woobridge.commands.inventory import summary_table

    console.rule("[bold]woobridge sync inventory[/] ← levels in the staging table stock_levels", align="left")
    console.print(summary_table(first, title="First run: builds the SKU index, sends what changed"))
    render.print_notes(console, first.notes)
    table = Table(title="In the store now", title_justify="left")
    for column in ("SKU", "ERP (main + east)", "stock_quantity"):
        table.add_column(column, justify="left" if column == "SKU" else "right")
    for sku, quantity, in_store in rows:
        table.add_row(sku, str(quantity), str(in_store))
    console.print(table)
    console.print(
        f"Second run (nothing changed): {second.write_requests} write request(s), "
        f"{second.counts['written']} written, {second.requests} request(s) in all."
    )


def _catalog_demo(served: ServedSandbox, db: Any, erp: Any) -> tuple[Any, Any, Any, list[dict[str, Any]]]:
    """The products and customers flows for real: the ERP writes items into the staging tables (``items``,
    ``item_variants``) and ``sync products`` makes them sandbox products (twice: the second push has nothing to
    send); ``sync customers`` brings the sandbox's customers and guest buyers into the staging ``customers``."""
    import asyncio
    from decimal import Decimal

    from sqlalchemy import insert

    from woobridge.erp.staging.models import item_variants, items
    from woobridge.flows import customers, products
    from woobridge.woo import Credentials, WooClient

    with erp.engine.begin() as staging:  # what the ERP does to offer items in the store
        staging.execute(
            insert(items).values(
                sku="DEMO-MUG",
                name="Demo mug",
                description="Stoneware, 300 ml.",
                regular_price=Decimal("12.50"),
                weight=Decimal("0.35"),
                category_path=["Demo", "Kitchen"],
            )
        )
        shirt = staging.execute(
            insert(items).values(
                sku="DEMO-TEE",
                name="Demo T-shirt",
                regular_price=Decimal("19.90"),
                category_path=["Demo", "Clothing"],
                attributes={"Size": ["S", "M", "L"]},
            )
        ).inserted_primary_key[0]
        staging.execute(
            insert(item_variants),
            [
                {"item_id": shirt, "sku": f"DEMO-TEE-{size}", "attributes": {"Size": size}, "position": n}
                for n, size in enumerate(("S", "M", "L"), start=1)
            ],
        )
    store = served.sandbox.store
    with store.lock:
        admin = next(u for u in store.users.values() if u.role == "administrator")
        key = store.issue_key(admin, "read_write", "woobridge demo: products and customers")
    credentials = Credentials(served.base_url, key.consumer_key, key.consumer_secret, ca_file=str(served.ca_file))

    async def run() -> tuple[Any, Any, Any, list[dict[str, Any]]]:
        async with WooClient(credentials, max_concurrency=8) as woo:
            first = await products.run(db, "sandbox", erp=erp, woo=woo)
            second = await products.run(db, "sandbox", erp=erp, woo=woo)
            made = await woo.get("products", {"sku": "DEMO-MUG,DEMO-TEE", "_fields": "id,sku,name,type,price"})
            buyers = await customers.run(db, "sandbox", erp=erp, woo=woo)
        return first, second, buyers, made

    return asyncio.run(run())


def _print_catalog_demo(first: Any, second: Any, buyers: Any, made: list[dict[str, Any]]) -> None:
    from woobridge.commands.catalog import customers_table, products_table

    console.rule("[bold]woobridge sync products[/] ← items in the staging tables items / item_variants", align="left")
    console.print(products_table(first))
    for product in made:
        console.print(f"  {product['sku']}: product {product['id']} ({product['type']}) {product['name']!r}")
    console.print(
        f"Second push (nothing changed): {second.requests} request(s), {second.writes} write(s), "
        f"{second.counts['unchanged']} unchanged."
    )
    console.rule("[bold]woobridge sync customers[/] → staging table customers", align="left")
    console.print(customers_table(buyers))


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        console.print(f"[red]{what}: HTTP {response.status_code}[/] {response.text[:300]}")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox_command)
    app.command("demo")(demo_command)
