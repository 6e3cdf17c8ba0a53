"""End to end over real HTTPS: every connection command at debug level, then a search of everything printed and
every file written (state database, master key, log file) for the consumer secrets used."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

from woobridge.sandbox.testing import LiveSandbox


def test_no_command_ever_shows_or_stores_a_secret_in_clear(live: LiveSandbox, tmp_path: Path) -> None:
    woobridge = str(Path(sys.executable).with_name("woobridge"))
    home, log_file = tmp_path / "home", tmp_path / "woobridge.log"
    env = {**os.environ, "WOOBRIDGE_HOME": str(home), "COLUMNS": "200"}
    env.pop("WOOBRIDGE_MASTER_KEY", None)
    printed: list[str] = []

    def run(*args: str, stdin: str = "", expect: int = 0, **extra_env: str) -> str:
        command = [woobridge, "--debug", "--log-file", str(log_file), *args]
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=60, env={**env, **extra_env}, check=False
        )
        printed.extend((done.stdout, done.stderr))
        assert done.returncode == expect, (args, done.stdout, done.stderr)
        return done.stdout

    keys = live.keys
    url, ca = live.base_url, live.ca_file
    store = live.store
    rotated = store.issue_key(store.users[keys.manager.user_id], "read_write")
    malformed = "cs_" + secrets.token_hex(20)[:39]
    used = [keys.manager, keys.admin, keys.read, rotated]

    def connect(name: str, key: str, secret: str, *extra: str, expect: int = 0) -> str:
        base = ["connect", name, "--url", url, "--key", key, "--ca-file", ca, "--secret-stdin"]
        return run(*base, *extra, stdin=secret + "\n", expect=expect)

    connect("shop", keys.manager.consumer_key, keys.manager.consumer_secret)
    connect("json", keys.admin.consumer_key, keys.admin.consumer_secret, "--json", "--flows", "orders")
    connect("read", keys.read.consumer_key, keys.read.consumer_secret, expect=4)
    connect("swapped", keys.read.consumer_secret, keys.read.consumer_key, expect=2)
    connect("malformed", keys.read.consumer_key, malformed, expect=2)
    run("connect", "env", "--url", url, "--key", keys.admin.consumer_key, "--ca-file", ca, "--json",
        WOOBRIDGE_CONSUMER_SECRET=keys.admin.consumer_secret)  # fmt: skip
    # A host that strips the Authorization header: validation retries with the secret in the query string.
    live.sandbox.modes.strip_authorization = True
    connect("stripped", keys.manager.consumer_key, keys.manager.consumer_secret, expect=1)
    connect("stripped", keys.manager.consumer_key, keys.manager.consumer_secret, "--query-auth")
    assert "Basic" not in run("check", "stripped")
    live.reset_switches()
    run("check")
    run("check", "--json")
    run("connections")
    assert "fingerprint" in run("connections", "--json")
    run("rotate", "shop", "--key", rotated.consumer_key, "--secret-stdin", stdin=rotated.consumer_secret + "\n")
    store.revoke_key(keys.admin.key_id)
    run("check", "json", "--json", expect=1)
    run("check", "env", expect=1)

    log = log_file.read_text()
    assert "HTTP Request: GET" in log and "DEBUG" in log  # the debug log really ran
    written = {path: path.read_bytes() for path in [log_file, *home.rglob("*")] if path.is_file()}
    assert home / "state.sqlite" in written and home / "master.key" in written
    everything = "\n".join(printed)
    for key in used:
        basic = base64.b64encode(f"{key.consumer_key}:{key.consumer_secret}".encode()).decode()
        for needle in (key.consumer_secret, basic, key.consumer_key):
            assert needle not in everything
            for path, content in written.items():
                assert needle.encode() not in content, f"found in {path}"
    for path, content in written.items():
        assert malformed.encode() not in content, path
    assert malformed not in everything
