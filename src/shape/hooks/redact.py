"""``redact`` hides passwords and tokens in text that leaves the process.

Hooks put paths, URLs and error messages into Kafka events, MLflow tags and log
lines. A path may be a URL with a password in it (``s3://key:secret@bucket``,
``postgresql://user:password@host/db``) and an error message may quote one, so
every such text goes through ``redact`` first.
"""

from __future__ import annotations

import re

#: ``scheme://user:password@`` : the password part is replaced. The password
#: may hold ``/`` (cloud secret keys do), so only ``@`` or a space ends it; a
#: path with an ``@`` after a port is masked too, which errs on the safe side.
_URL_PASSWORD = re.compile(
    r"(?P<prefix>[A-Za-z][A-Za-z0-9+.\-]*://[^/@:\s]*):(?P<secret>[^@\s]*)@"
)

#: ``password=...`` and similar query or connection-string arguments.
_SECRET_ARGUMENT = re.compile(
    r"(?P<name>\b(?:password|passwd|pwd|secret|token|api_key|access_key)\w*=)"
    r"(?P<secret>[^&\s;,'\"]+)",
    re.IGNORECASE,
)

MASK = "***"


def redact(text: str) -> str:
    """Returns ``text`` with URL passwords and secret arguments masked.

    Args:
        text: Any text: a path, a URL, a list of servers, an error message.

    Returns:
        The same text with each password of a ``scheme://user:password@host``
        URL, and each value of a ``password=``, ``token=``, ``secret=``... argument,
        replaced by ``***``.
    """
    text = _URL_PASSWORD.sub(rf"\g<prefix>:{MASK}@", text)
    return _SECRET_ARGUMENT.sub(rf"\g<name>{MASK}", text)
