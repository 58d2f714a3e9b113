"""Signing keys for cursors: a file in the data dir locally, an SSM SecureString in production.

Both hold JSON {"current": KID, "keys": {KID: HEX, ...}}: rotate by adding a key and
making it current; keep the old one listed for a grace period so issued cursors still work.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from ..services.cursors import SigningKeys
from .localissuer import write_private

SECRETS_FILE = "secrets.json"


def parse_keys(text: str) -> SigningKeys:
    data = json.loads(text)
    keys = {str(kid): bytes.fromhex(value) for kid, value in data["keys"].items()}
    if data["current"] not in keys or any(len(k) < 16 for k in keys.values()):
        raise ValueError("signing keys: 'current' must name a listed key of >= 16 bytes")
    return SigningKeys(current=data["current"], keys=keys)


def file_signing_keys(data_dir: str | Path) -> SigningKeys:
    path = Path(data_dir) / SECRETS_FILE
    if not path.exists():
        kid = "k" + secrets.token_hex(4)
        text = json.dumps({"current": kid, "keys": {kid: secrets.token_hex(32)}})
        write_private(path, text.encode())
    return parse_keys(path.read_text())


def ssm_signing_keys(ssm: Any, name: str) -> SigningKeys:
    """Read once per container; `ssm` is a boto3 SSM client."""
    response = ssm.get_parameter(Name=name, WithDecryption=True)
    return parse_keys(response["Parameter"]["Value"])
