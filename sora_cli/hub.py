"""`sora pull`: a model's pinned files from the Hugging Face Hub into its cache (the only network use).

Offline, huggingface_hub retries each request with back-off for about half a minute and
logs every retry; a user wants one line in seconds. So the endpoint is probed first with a
short timeout, the hub's own timeouts are bounded, and its logger only speaks on errors.
Nothing is written to the cache before the hub has answered.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from sora_cli.errors import GenerationFailed
from sora_cli.specs import ModelSpec

PROBE_SECONDS = 5.0


def reachable(url: str, timeout: float = PROBE_SECONDS) -> str | None:
    """None when the server answers at all (any HTTP status), else why not."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None  # it answered: 401, 404 and the like are the hub's to explain
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason).splitlines()[0][:160] if str(reason) else type(exc).__name__
    return None


def download(spec: ModelSpec) -> Path:
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    from huggingface_hub import constants, snapshot_download

    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    url = f"{constants.ENDPOINT}/api/models/{spec.hf_repo}/revision/{spec.revision or 'main'}"
    why = reachable(url)
    if why is not None:
        raise GenerationFailed(f"cannot reach {constants.ENDPOINT} to download {spec.hf_repo} (offline?): {why}")
    try:
        return Path(snapshot_download(spec.hf_repo, revision=spec.revision, allow_patterns=list(spec.files) or None))
    except Exception as exc:  # noqa: BLE001 - hub errors are many; each becomes one line
        raise GenerationFailed(f"cannot download {spec.hf_repo}: {str(exc).splitlines()[0][:200]}") from None
