"""Land-title references (titres fonciers) as the database compares them.

``ref_norm`` is the Python twin of the SQL function ``geoportal_ref_norm`` (migration
0008), which generates ``parcels.ref_norm``: whitespace removed (what ``str.isspace``
names), ASCII letters upper-cased, nothing else touched, whatever the locale.
"""

from __future__ import annotations

import re
import string

WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
              "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_SPACES = re.compile(f"[{re.escape(WHITESPACE)}]+")
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def ref_norm(ref: str) -> str:
    """A reference as ``parcels.ref_norm`` holds it: ``"tf 12 345/c"`` → ``"TF12345/C"``."""
    return _SPACES.sub("", ref).translate(_ASCII_UPPER)
