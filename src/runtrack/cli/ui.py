"""``runtrack ui``: the web UI on the embedded store, in the browser."""

from __future__ import annotations

import click

from ._common import emit_json, handle_errors, json_option


@click.command()
@click.option(
    "--port",
    default=0,
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (default: a free one).",
)
@click.option("--no-browser", is_flag=True, help="Print the address; do not open a browser.")
@json_option
@handle_errors
def ui(port: int, no_browser: bool, as_json: bool) -> None:
    """Open the web UI: runs, charts, comparisons and models in the browser.

    Starts a server on 127.0.0.1 over the embedded store (RUNTRACK_DIR), reachable from
    this machine only, and opens the browser at it; Ctrl-C stops it. With RUNTRACK_URL
    set, opens the team server's UI instead (no local server).
    """
    import socket
    import threading
    import time
    import webbrowser

    from .. import settings as settings_mod

    s = settings_mod.load()
    if s.url:
        url = s.url.rstrip("/") + "/"
        _announce(url, as_json, no_browser, webbrowser.open)
        return

    import uvicorn

    from ..server.app import create_app
    from ..server.main import build_config

    config = build_config(
        host="127.0.0.1",
        db_url=s.db_url,
        artifacts=str(s.artifacts_dir),
        auth=None,
        insecure_no_auth=False,
        crash_after=s.crash_after,
        console_max_bytes=s.console_max_bytes,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )

    def when_started() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.02)
        _announce(url, as_json, no_browser, webbrowser.open)

    threading.Thread(target=when_started, daemon=True).start()
    server.run(sockets=[sock])


def _announce(url: str, as_json: bool, no_browser: bool, open_browser: object) -> None:
    if as_json:
        emit_json({"url": url})
    else:
        click.echo(f"runtrack UI on {url}  (Ctrl-C stops it)", err=True)
    if not no_browser and callable(open_browser):
        open_browser(url)
