"""`make fuzz`: Schemathesis over every operation of the API, against a real server.

On a scratch PostgreSQL database (created here, dropped after): migrate, seed the demo
network (locations, groups, the web-uk/web-de/web-us channels, stock, demo orders), make
an admin key and a storefront key bound to the web-uk channel, serve with the worker, then
run Schemathesis once per key with the checks not_a_server_error, status_code_conformance
and response_schema_conformance. Prints each run's summary; exits 1 when any check failed.
The server's log is kept in var/fuzz/.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from openoms.adapters.db.scratch import scratch_postgres_database

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
OUT = ROOT / "var" / "fuzz"
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
CHANNEL = "web-uk"
STARTUP_SECONDS = 60


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def openoms(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "openoms"), *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"openoms {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def create_key(env: dict[str, str], scope: str, *binding: str) -> str:
    """A new API key of `scope` (with `binding` options); its secret, printed last."""
    printed = openoms(env, "keys", "create", "--scope", scope, "--name", f"fuzz {scope}", *binding)
    return printed.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """`openoms serve` with its worker on a free port; its base URL until the block ends."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = (OUT / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "openoms"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                sys.exit(f"openoms serve exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"openoms serve not healthy after {STARTUP_SECONDS} s; see {log.name}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def schemathesis(base_url: str, key: str, name: str, examples: int, seed: int) -> int:
    """One Schemathesis run over every operation with `key`; its exit code."""
    say(f"schemathesis with the {name} key: every operation, {examples} examples each")
    command = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        # One worker: with two, Hypothesis's source inspection trips over CPython 3.11's
        # AST recursion check now and then (an error of the tool, not of the API).
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(OUT / name),
    ]
    # The key goes by the environment (schemathesis.toml reads it), and the output sanitizer
    # (on by default) masks the Authorization header in what Schemathesis prints.
    env = {**os.environ, "FUZZ_API_KEY": key, "SCHEMATHESIS_HOOKS": str(HERE / "fuzz_hooks.py")}
    return subprocess.run(command, env=env, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", required=True, help="a PostgreSQL server to use")
    parser.add_argument("--examples", type=int, default=20, help="cases per operation")
    parser.add_argument("--seed", type=int, default=1, help="Schemathesis's random seed")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with scratch_postgres_database(args.postgres_url, prefix="openoms_fuzz_") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENOMS_")}
        # No rate limit: the storefront run must reach every operation, not its 429 (which
        # the OpenAPI document states, so a 429 would not fail a check either).
        env.update(OPENOMS_DATABASE_URL=url, OPENOMS_RATE_LIMIT_PER_MINUTE="0", NO_COLOR="1")
        say("migrating and seeding a scratch PostgreSQL database with the demo network")
        openoms(env, "db", "upgrade")
        openoms(env, "seed")
        admin = create_key(env, "admin")
        storefront = create_key(env, "storefront", "--channel", CHANNEL)
        say(f"keys: admin; storefront bound to {CHANNEL}")
        with serving(env) as base_url:
            say(f"serving on {base_url} with the worker (log: {OUT / 'serve.log'})")
            results = {
                "admin": schemathesis(base_url, admin, "admin", args.examples, args.seed),
                "storefront": schemathesis(
                    base_url, storefront, "storefront", args.examples, args.seed
                ),
            }
    say(
        "fuzz summary: "
        + ", ".join(f"{name} {'passed' if rc == 0 else 'FAILED'}" for name, rc in results.items())
        + f" (storefront key bound to {CHANNEL}; JUnit reports in {OUT})"
    )
    return 0 if all(rc == 0 for rc in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
