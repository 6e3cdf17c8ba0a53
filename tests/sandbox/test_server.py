"""The sandbox served over real sockets: TLS from a local CA, home URL, HTTP mode, the CLI, a crash and restart."""

from __future__ import annotations

import http.server
import os
import re
import ssl
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import typer
from cryptography import x509

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.command import parse_mode
from woobridge.sandbox.server import CERT_NAMES, SandboxProcess, ServedSandbox, ensure_tls, trusting
from woobridge.sandbox.state import Settings, Store
from woobridge.sandbox.testing import LiveSandbox, admin, issue_standard_keys

# The console script installed next to the interpreter running the tests.
WOOBRIDGE = str(Path(sys.executable).parent / "woobridge")


def _sandbox() -> Sandbox:
    return Sandbox(Store(Settings()))


def test_https_with_the_local_ca_and_home_url_at_the_served_origin(tmp_path: Path) -> None:
    sandbox = _sandbox()
    keys = issue_standard_keys(sandbox.store)
    with ServedSandbox(sandbox, tls_dir=tmp_path) as served:
        assert re.fullmatch(r"https://127\.0\.0\.1:\d+", served.base_url)
        assert sandbox.store.settings.home_url == served.base_url
        auth = (keys.admin.consumer_key, keys.admin.consumer_secret)
        with httpx.Client(verify=served.verify, auth=auth) as client:
            index = client.get(served.base_url + "/wp-json/")
            status = client.get(served.base_url + "/wp-json/wc/v3/system_status")
        assert index.status_code == 200
        assert index.headers["Link"] == f'<{served.base_url}/wp-json/>; rel="https://api.w.org/"'
        assert index.json()["home"] == served.base_url
        assert status.status_code == 200
        assert status.json()["environment"]["home_url"] == served.base_url
        # A client that does not trust the sandbox CA is refused: the certificate is not a public one.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(served.base_url + "/wp-json/")


def test_tls_files_private_keys_owner_only_and_ca_kept_across_starts(tmp_path: Path) -> None:
    first = ensure_tls(tmp_path / "tls")
    ca_pem = first.ca_file.read_bytes()
    for private in (first.key_file, first.ca_key_file):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(first.directory.stat().st_mode) == 0o700
    cert = x509.load_pem_x509_certificate(first.cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    present = {str(n) for n in names.get_values_for_type(x509.DNSName)}
    present |= {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert set(CERT_NAMES) <= present

    # Losing the server certificate re-issues it from the same CA: clients keep their --ca-file.
    first.cert_file.unlink()
    second = ensure_tls(tmp_path / "tls")
    assert second.ca_file.read_bytes() == ca_pem
    context = ssl.create_default_context(cafile=str(second.ca_file))
    context.load_cert_chain(second.cert_file, second.key_file)  # the new pair matches


def test_canonical_redirect_to_the_other_loopback_name_lands_on_a_valid_certificate(tmp_path: Path) -> None:
    sandbox = _sandbox()
    with ServedSandbox(sandbox, tls_dir=tmp_path) as served:
        canonical = f"https://localhost:{served.port}"
        sandbox.modes.canonical_origin = canonical
        with httpx.Client(verify=served.verify) as client:
            moved = client.get(served.base_url + "/wp-json/")
            assert moved.status_code == 301
            assert moved.headers["Location"] == canonical + "/wp-json/"
            # Following it: the certificate names localhost too, and the store then answers there.
            sandbox.store.settings.home_url = canonical
            landed = client.get(served.base_url + "/wp-json/", follow_redirects=True)
        assert landed.status_code == 200
        assert str(landed.url) == canonical + "/wp-json/"


def test_plain_http_mode(tmp_path: Path) -> None:
    sandbox = _sandbox()
    with ServedSandbox(sandbox, http=True) as served:
        assert served.base_url.startswith("http://127.0.0.1:")
        assert served.ca_file is None
        assert sandbox.store.settings.home_url == served.base_url
        response = httpx.get(served.base_url + "/wp-json/")
        assert response.status_code == 200
        assert response.json()["home"] == served.base_url


def test_a_taken_port_is_reported_not_ignored(tmp_path: Path) -> None:
    with ServedSandbox(_sandbox(), tls_dir=tmp_path) as first, pytest.raises(OSError):
        ServedSandbox(_sandbox(), tls_dir=tmp_path, port=first.port).start()


def test_stop_then_port_is_free_again(tmp_path: Path) -> None:
    served = ServedSandbox(_sandbox(), tls_dir=tmp_path).start()
    port = served.port
    served.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://127.0.0.1:{port}/", verify=served.verify)
    again = ServedSandbox(_sandbox(), tls_dir=tmp_path, port=port).start()
    again.stop()


def test_child_process_killed_hard_restarts_on_its_state_file(tmp_path: Path) -> None:
    state = tmp_path / "shop.sqlite"
    store = Store(path=state)
    keys = issue_standard_keys(store)
    store.close()
    process = SandboxProcess(state, tls_dir=tmp_path / "tls").start()
    try:
        auth = (keys.admin.consumer_key, keys.admin.consumer_secret)
        url = process.base_url + "/wp-json/wc/v3/system_status"
        assert httpx.get(url, auth=auth, verify=trusting(process.ca_file)).status_code == 200
        process.kill()
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, auth=auth, verify=trusting(process.ca_file))
        process.start()  # same port: the home URL stored with the data stays right
        assert process.base_url + "/wp-json/wc/v3/system_status" == url
        restarted = httpx.get(url, auth=auth, verify=trusting(process.ca_file))
        assert restarted.status_code == 200
        assert restarted.json()["environment"]["home_url"] == process.base_url
    finally:
        process.stop()


def test_mode_option_parsing() -> None:
    assert parse_mode("permalinks=plain") == ("permalinks", "plain")
    assert parse_mode("maintenance=true") == ("maintenance", True)
    assert parse_mode("strip-authorization=off") == ("strip_authorization", False)
    with pytest.raises(typer.BadParameter, match="expected name=value"):
        parse_mode("nonsense=1")
    with pytest.raises(typer.BadParameter, match="switch"):
        parse_mode("maintenance=maybe")


def _wait_for(pattern: str, output: Path, process: subprocess.Popen[bytes], timeout: float = 30) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, output.read_text(errors="replace"))
        if found:
            return found
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} in the command's output:\n{output.read_text(errors='replace')}")


def _run_cli(args: list[str], cwd: Path) -> tuple[subprocess.Popen[bytes], Path]:
    output = cwd / f"out-{time.monotonic_ns()}.txt"
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    with output.open("wb") as sink:
        process = subprocess.Popen([WOOBRIDGE, *args], cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, env=env)
    return process, output


def test_cli_serves_prints_working_keys_and_keeps_state(tmp_path: Path) -> None:
    args = ["sandbox", "--port", "0", "--state", "shop.sqlite", "--seed-data", "products=6,orders=9,customers=3"]
    process, output = _run_cli([*args, "--timezone", "Europe/Paris"], tmp_path)
    try:
        base_url = _wait_for(r"REST API\s+(https://127\.0\.0\.1:\d+)/wp-json/wc/v3/", output, process).group(1)
        ca_file = _wait_for(r"CA file\s+(\S+)", output, process).group(1)
        _wait_for("Serving until Ctrl-C", output, process)
        text = output.read_text()
        assert Path(ca_file) == tmp_path / ".woobridge" / "sandbox-tls" / "ca.pem"
        assert "9 orders" in text
        block = text[text.index("administrator · read_write") :]
        key = re.search(r"consumer key\s+(\S+)", block)
        secret = re.search(r"consumer secret\s+(\S+)", block)
        assert key and secret
        status = httpx.get(
            base_url + "/wp-json/wc/v3/system_status", auth=(key.group(1), secret.group(1)), verify=trusting(ca_file)
        )
        assert status.status_code == 200
        assert status.json()["environment"]["default_timezone"] in ("UTC", "Europe/Paris")
    finally:
        process.terminate()
        assert process.wait(10) == 0

    # Restarting on the state file keeps the data and does not seed again.
    process, output = _run_cli(args, tmp_path)
    try:
        _wait_for("Serving until Ctrl-C", output, process)
        assert "9 orders" in output.read_text()
    finally:
        process.terminate()
        process.wait(10)


def test_demo_runs_and_exits_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    done = subprocess.run([WOOBRIDGE, "demo"], cwd=tmp_path, capture_output=True, env=env, timeout=120)
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    assert "system_status → 200" in out
    assert "5 newest of" in out
    assert not re.search(r"c[ks]_[0-9a-f]{40}", out), "the demo must not print key secrets"


def test_live_fixture_serves_seeded_data_and_admin_helper(live: LiveSandbox) -> None:
    with live.client(live.keys.read) as client:
        orders = client.get("/wp-json/wc/v3/orders")
    assert orders.status_code == 200
    assert int(orders.headers["X-WP-Total"]) == len(live.seeded.orders)
    state = admin(live, "GET", "/state")
    assert state.status_code == 200
    assert state.json()["modes"]["permalinks"] == "pretty"
    assert admin(live, "PUT", "/modes", {"maintenance": True}).status_code == 200
    with live.client(live.keys.read) as client:
        assert client.get("/wp-json/wc/v3/orders").status_code == 503
    live.reset_switches()
    no_token = httpx.get(live.base_url + "/__sandbox__/state", verify=live.served.verify)
    assert no_token.status_code == 401


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def test_served_sandbox_delivers_webhooks_in_the_background(tmp_path: Path) -> None:
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    sandbox = _sandbox()
    keys = issue_standard_keys(sandbox.store)
    try:
        with ServedSandbox(sandbox, tls_dir=tmp_path, deliver_interval=0.05) as served:
            auth = (keys.admin.consumer_key, keys.admin.consumer_secret)
            with httpx.Client(base_url=served.base_url, verify=served.verify, auth=auth) as client:
                hook = client.post(
                    "/wp-json/wc/v3/webhooks",
                    json={
                        "name": "erp",
                        "topic": "order.created",
                        "delivery_url": f"http://127.0.0.1:{receiver.server_port}/hook",
                        "secret": "s3cret",
                    },
                )
                assert hook.status_code == 201, hook.text
                order = client.post("/wp-json/wc/v3/orders", json={"status": "pending"})
                assert order.status_code == 201, order.text
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                topics = [h.get("X-WC-Webhook-Topic") for h, _ in _Receiver.received]
                if "order.created" in topics:
                    break
                time.sleep(0.05)
            topics = [h.get("X-WC-Webhook-Topic") for h, _ in _Receiver.received]
            assert "order.created" in topics, _Receiver.received
    finally:
        receiver.shutdown()
        receiver.server_close()
