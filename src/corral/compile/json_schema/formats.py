"""Exact regexes for the regular JSON Schema ``format`` values, over the content of a canonical JSON string.

Every character these formats allow is printable ASCII other than ``"`` and ``\\``, so the canonical spelling of a
conforming string is the string itself, and the regexes below are also regexes over the string content (except
``email``, whose quoted local part is written over the JSON escapes ``\\"`` and ``\\\\``).

The reference for each format (what "valid" means, and what the tests compare against):

* ``email``: RFC 5321 ``Mailbox`` (dot-atom or quoted local part; a domain of letter-digit-hyphen labels or an
  ``[IPv4]`` / ``[IPv6:...]`` address literal), without its length limits. Stricter than ``jsonschema``'s checker
  (which only wants an ``@``), as the JSON-Schema-Test-Suite expects.
* ``date``, ``ipv4``, ``ipv6``: ``jsonschema``'s draft 2020-12 format checker in the installed version
  (``date``: ``YYYY-MM-DD`` with ``datetime.date.fromisoformat``, so years 0001-9999, day-of-month per month and
  Feb 29 in leap years only; ``ipv4``/``ipv6``: the :mod:`ipaddress` module, no leading
  zeros in IPv4 octets, no IPv6 zone id).
* ``time``, ``date-time`` (not checked by jsonschema without the optional ``rfc3339-validator``): RFC 3339
  ``full-time``/``date-time``, ``T``/``Z`` in either case (RFC 3339 section 5.6 note), the ``date`` rules above, and
  second ``60`` only when the time, shifted by its offset to UTC, is ``23:59`` (the JSON-Schema-Test-Suite rule).
* ``duration`` (not checked without ``isoduration``): RFC 3339 appendix A ``duration``; the ABNF literals are
  case-insensitive (RFC 5234), so ``p1d`` conforms too.
* ``uuid``: RFC 4122 ``8-4-4-4-12`` hexadecimal digits, either case. (jsonschema's checker is looser: it also
  accepts e.g. ``urn:uuid:`` inserted after the hyphen checks, because it uses :class:`uuid.UUID`; we follow the
  specification, not that quirk.)

Other format names (``hostname``, ``uri``, ...) are not supported: the caller raises ``SchemaError``.
"""

from __future__ import annotations

__all__ = ["format_regex", "FORMATS", "FIXED_LENGTH"]

#: Formats whose conforming strings all have one length (in code points).
FIXED_LENGTH = {"date": 10, "uuid": 36}

_D2 = "[0-9]{2}"
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"  # 0001..9999
_LEAP = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = ("(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
              "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
              "|02-(?:0[1-9]|1[0-9]|2[0-8]))")
DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP}-02-29)"

_HOUR = "(?:[01][0-9]|2[0-3])"
_MIN = "[0-5][0-9]"
_FRAC = r"(?:\.[0-9]+)?"
_OFFSET = f"(?:[Zz]|[+-]{_HOUR}:{_MIN})"


def _leap_second_time() -> str:
    """``HH:MM:60[.frac]offset`` where ``HH:MM`` minus the offset is 23:59 UTC."""
    groups: dict[str, list[str]] = {}
    groups.setdefault("23:59", []).append("[Zz]")
    for sign, s in (("+", 1), ("-", -1)):
        for oh in range(24):
            for om in range(60):
                local = (23 * 60 + 59 + s * (oh * 60 + om)) % 1440
                groups.setdefault(f"{local // 60:02d}:{local % 60:02d}", []).append(f"\\{sign}{oh:02d}:{om:02d}")
    by_hour: dict[str, list[str]] = {}
    for hm, offs in sorted(groups.items()):
        by_hour.setdefault(hm[:2], []).append(f"{hm[3:]}:60{_FRAC}(?:{'|'.join(offs)})")
    return "(?:" + "|".join(f"{h}:(?:{'|'.join(alts)})" for h, alts in by_hour.items()) + ")"


TIME = f"(?:{_HOUR}:{_MIN}:[0-5][0-9]{_FRAC}{_OFFSET}|{_leap_second_time()})"
DATE_TIME = f"(?:{DATE}[Tt]{TIME})"

_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"(?:{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET})"
_H16 = "[0-9A-Fa-f]{1,4}"
_LS32 = f"(?:{_H16}:{_H16}|{IPV4})"


def _ipv6() -> str:
    """RFC 4291 section 2.2 (the RFC 3986 ``IPv6address`` rule)."""
    def reps(n: int) -> str:  # n times "h16:"
        return f"(?:{_H16}:){{{n}}}" if n else ""

    def before(n: int | None) -> str:  # [ *n( h16 ":" ) h16 ] ; None: nothing allowed
        if n is None:
            return ""
        return f"(?:(?:{_H16}:){{0,{n}}}{_H16})?" if n else f"(?:{_H16})?"

    alts = [reps(6) + _LS32, "::" + reps(5) + _LS32]
    for n, (k, tail) in enumerate([(4, _LS32), (3, _LS32), (2, _LS32), (1, _LS32), (0, _LS32), (0, _H16), (0, "")]):
        alts.append(before(n) + "::" + reps(k) + tail)
    return "(?:" + "|".join(alts) + ")"


IPV6 = _ipv6()
_HEX = "[0-9A-Fa-f]"
UUID = f"(?:{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}})"


def _ci(text: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in text)


def _duration() -> str:
    n = "[0-9]+"
    sec = f"{n}{_ci('S')}"
    minute = f"{n}{_ci('M')}(?:{sec})?"
    hour = f"{n}{_ci('H')}(?:{minute})?"
    dtime = f"{_ci('T')}(?:{hour}|{minute}|{sec})"
    day = f"{n}{_ci('D')}"
    month = f"{n}{_ci('M')}(?:{day})?"
    year = f"{n}{_ci('Y')}(?:{month})?"
    ddate = f"(?:{day}|{month}|{year})(?:{dtime})?"
    week = f"{n}{_ci('W')}"
    return f"(?:{_ci('P')}(?:{ddate}|{dtime}|{week}))"


DURATION = _duration()

# email: RFC 5321 Mailbox = Local-part "@" ( Domain / address-literal ), without the length limits. The local part is
# a Dot-string of atext atoms or a Quoted-string; inside canonical JSON content a '"' is spelled \" and a '\' is
# spelled \\, so the quoted form is written over those spellings.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]"
_DQ = r'\\"'
_QTEXT = r"[ !#-\[\]-~]"
_QPAIR = r'\\\\(?:' + _QTEXT + "|" + _DQ + r"|\\\\)"
_LOCAL = f"(?:{_ATEXT}+(?:\\.{_ATEXT}+)*|{_DQ}(?:{_QTEXT}|{_QPAIR})*{_DQ})"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = f"(?:{_LABEL}(?:\\.{_LABEL})*|\\[(?:{IPV4}|IPv6:{IPV6})\\])"
EMAIL = f"{_LOCAL}@{_DOMAIN}"

FORMATS = {"email": EMAIL, "date": DATE, "time": TIME, "date-time": DATE_TIME, "ipv4": IPV4, "ipv6": IPV6, "uuid": UUID,
           "duration": DURATION}


def format_regex(name: str, unit: str) -> str | None:
    """Regex for the content of a canonical JSON string conforming to format ``name`` (None: not supported).

    Parameters
    ----------
    name : str
        The ``format`` value.
    unit : str
        Regex for one canonical unit of string content (used by ``email``).

    Returns
    -------
    str or None
    """
    return FORMATS.get(name)
