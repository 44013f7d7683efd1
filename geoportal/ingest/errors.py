"""The one error of the importer: the file cannot be loaded as it is, and why."""

from __future__ import annotations

from geoportal.errors import GeoportalError


class IngestError(GeoportalError):
    """The import is refused; the message says what is wrong and what to do."""

    status_code = 422
    code = "ImportRefused"
