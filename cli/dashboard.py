"""`abs dashboard`: where the Ray dashboard is, the token that logs in to it, and whether it answers.

The token: AB_RAY_AUTH_TOKEN, else the file `abs serve` keeps under the service's data dir (mode 0600),
else Ray's own RAY_AUTH_TOKEN or ~/.ray/auth_token.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ab_core.errors import AbError


class DashboardTokenError(AbError):
    """No token for the Ray dashboard was found anywhere it may be kept."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("dashboard", help="print the Ray dashboard's URL and how to log in to it")
    parser.add_argument("--url", help="the dashboard (default: AB_RAY_DASHBOARD_URL, else AB_RAY_ADDRESS)")
    parser.add_argument("--print-token", action="store_true", help="print the token alone (for scripts)")
    parser.set_defaults(handler=dashboard)


def dashboard(args: argparse.Namespace) -> int:
    from services.ray_jobs import RayJobs, RayUnavailableError
    from services.settings import load_settings

    settings = load_settings()
    url = (args.url or settings.dashboard_url).rstrip("/")
    token, source, hint = find_token(settings.ray_auth_token, settings.data_dir)
    if args.print_token:
        print(token)
        return 0
    ray = RayJobs(url, token, timeout=5.0)
    try:
        state, answered = f"up, {len(ray.jobs())} Ray jobs", True
    except RayUnavailableError as error:
        state, answered = f"NOT ANSWERING: {error}; is `abs serve` running, on this --url?", False
    finally:
        ray.close()
    print(f"""Ray dashboard   {url}   ({state})
token           {token}   (from {source})

To log in, open {url} and paste the token into its "Authentication Token Required" dialog
(the dialog's hint `ray get-auth-token` works for this cluster as: {hint}).
The Jobs page names each job after its spec's name (else method and kind); a job's page shows the
service's job id, kind, method, owner, attempt and API URL, and its log one line per progress report.""")
    return 0 if answered else 1


def find_token(configured: str | None, data_dir: Path) -> tuple[str, str, str]:
    """The dashboard's token, where it came from, and the `ray get-auth-token` line that prints it."""
    from services.ray_head import read_kept_token, token_path
    from services.ray_jobs import read_ray_token

    if configured:
        return configured, "AB_RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN=$AB_RAY_AUTH_TOKEN ray get-auth-token"
    path = token_path(data_dir)
    if token := read_kept_token(path):
        return token, str(path), f"RAY_AUTH_TOKEN_PATH={path} ray get-auth-token"
    if token := read_ray_token():
        return token, "RAY_AUTH_TOKEN or ~/.ray/auth_token", "ray get-auth-token"
    raise DashboardTokenError(
        f"no Ray dashboard token: AB_RAY_AUTH_TOKEN is unset, {path} (written by `abs serve`) does not "
        "exist, nor RAY_AUTH_TOKEN or ~/.ray/auth_token; start `abs serve`, or set AB_RAY_AUTH_TOKEN to "
        "the token the cluster was started with"
    )
