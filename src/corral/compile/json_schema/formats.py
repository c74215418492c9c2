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

* ``hostname``: RFC 1123 section 2.1 (RFC 952 labels, a leading digit allowed): dot-separated labels of 1 to 63
  letters, digits and hyphens, neither starting nor ending with a hyphen, no trailing dot, at most 253 characters in
  all, as the JSON-Schema-Test-Suite reads it. Two documented narrowings keep the regex small and sound: labels with
  ``--`` in the third and fourth positions (RFC 5890 "R-LDH" labels, among them the ``xn--`` A-labels, which the
  suite checks as Punycode/IDNA2008) are never generated, and the total length is enforced by the number of labels:
  up to 4 labels of up to 63 characters (exactly within 253), 5-8 labels of up to 30, 9-16 of up to 14, 17-32 of
  up to 6, 33-64 of up to 2 and 65-127 of 1 character (each tier fits in 253).
* ``uri``, ``uri-reference``: RFC 3986 ``URI`` / ``URI-reference`` (appendix A ABNF; ABNF literals such as the
  ``v`` of ``IPvFuture`` are case-insensitive; ``IPv4address`` has no leading zeros).
* ``iri``, ``iri-reference``: RFC 3987 ``IRI`` / ``IRI-reference`` (section 2.2 ABNF: ``ucschar`` in every
  component, ``iprivate`` in the query).
* ``uri-template``: RFC 6570 section 2 ``URI-Template`` (level 4 syntax, with the reserved operators
  ``= , ! @ |``), except that ``'`` is allowed in literals, as the JSON-Schema-Test-Suite expects (RFC 6570 errata).
* ``json-pointer``: RFC 6901 section 3; ``relative-json-pointer``: draft-handrews-relative-json-pointer-01
  (a non-negative integer without leading zeros, then ``#`` or a JSON pointer). A reference token may hold any
  character except ``/`` and ``~`` (so ``"``, ``\\`` and control characters, written with their JSON escapes).

Other format names (``idn-hostname``, whose IDNA2008 rules are not practically regular, ``regex``, which is not a
regular language, ``idn-email``, ...) are not supported: the caller raises ``SchemaError``.

:func:`format_checker` is the ``jsonschema`` format checker that checks instances by these same regexes (used by
:mod:`corral.validate` and :func:`~corral.compile.json_schema.validate_instance`).
"""

from __future__ import annotations

import re
from json.encoder import encode_basestring

from corral.compile.json_schema.regexes import units_for

__all__ = ["format_regex", "format_checker", "FORMATS", "FIXED_LENGTH"]

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

# hostname (RFC 1123 section 2.1), see the module docstring for the two narrowings.
_ALNUM = "[A-Za-z0-9]"
_LDH = "[A-Za-z0-9-]"


def _host_label(m: int) -> str:
    """An LDH label of 1..m characters, no hyphen first or last, no ``--`` in positions 3 and 4."""
    alts = [_ALNUM]
    if m >= 2:
        alts.append(_ALNUM * 2)
    if m >= 3:
        alts.append(_ALNUM + _LDH + _ALNUM)
    if m >= 4:  # positions 3-4: any LDH pair except "--"; the last character is alphanumeric
        mid = f"(?:{_ALNUM}{_LDH}|-{_ALNUM})"
        alts.append(f"{_ALNUM}{_LDH}(?:{_ALNUM}{_ALNUM}|-{_ALNUM})")
        if m >= 5:
            alts.append(f"{_ALNUM}{_LDH}{mid}{_LDH}{{0,{m - 5}}}{_ALNUM}")
    return "(?:" + "|".join(alts) + ")"


def _hostname() -> str:
    full, l61, l62 = _host_label(63), _host_label(61), _host_label(62)
    alts = [f"{full}(?:\\.{full}){{0,2}}"]
    # four labels: the total 3 + sum of lengths <= 253 iff one label is <= 61 or two are <= 62 characters
    four = [[l61 if j == i else full for j in range(4)] for i in range(4)]
    four += [[l62 if j in (i, k) else full for j in range(4)] for i in range(4) for k in range(i + 1, 4)]
    alts += ["\\.".join(labels) for labels in four]
    for lo, hi, m in ((5, 8, 30), (9, 16, 14), (17, 32, 6), (33, 64, 2), (65, 127, 1)):
        assert hi * m + hi - 1 <= 253
        lab = _host_label(m)
        alts.append(f"{lab}(?:\\.{lab}){{{lo - 1},{hi - 1}}}")
    return "(?:" + "|".join(alts) + ")"


HOSTNAME = _hostname()

# RFC 3986 appendix A (URI) and RFC 3987 section 2.2 (IRI). Every allowed character is printable ASCII other than
# '"' and '\\', or a non-ASCII ucschar/iprivate (written raw in canonical JSON), so these are regexes over the content.
_PCT = "%[0-9A-Fa-f]{2}"
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_UCSCHAR = "\\u00a0-\\ud7ff\\uf900-\\ufdcf\\ufdf0-\\uffef" + "".join(
    f"\\U{p * 0x10000 + (0x1000 if p == 14 else 0):08x}-\\U{p * 0x10000 + 0xFFFD:08x}" for p in range(1, 15))
_IPRIVATE = "\\ue000-\\uf8ff\\U000f0000-\\U000ffffd\\U00100000-\\U0010fffd"
_PORT = "[0-9]*"
_IP_FUTURE = f"[vV][0-9A-Fa-f]+\\.[{_UNRESERVED}{_SUB_DELIMS}:]+"
_IP_LITERAL = f"\\[(?:{IPV6}|{_IP_FUTURE})\\]"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"


def _resource(iri: bool, absolute: bool) -> str:
    """RFC 3986 ``URI``/``URI-reference`` (``iri``: RFC 3987 ``IRI``/``IRI-reference``)."""
    unres = _UNRESERVED + (_UCSCHAR if iri else "")

    def chars(extra: str) -> str:  # one character of unreserved / sub-delims / extra, or a pct-encoded triplet
        return f"(?:[{unres}{_SUB_DELIMS}{extra}]|{_PCT})"

    pchar = chars(":@")
    userinfo = f"{chars(':')}*"
    reg_name = f"{chars('')}*"
    host = f"(?:{_IP_LITERAL}|{IPV4}|{reg_name})"
    authority = f"(?:{userinfo}@)?{host}(?::{_PORT})?"
    segment = f"{pchar}*"
    segment_nz = f"{pchar}+"
    segment_nz_nc = f"{chars('@')}+"
    path_abempty = f"(?:/{segment})*"
    path_absolute = f"/(?:{segment_nz}(?:/{segment})*)?"
    path_rootless = f"{segment_nz}(?:/{segment})*"
    path_noscheme = f"{segment_nz_nc}(?:/{segment})*"
    query = f"(?:{pchar}|[/?{_IPRIVATE if iri else ''}])*"
    fragment = f"(?:{pchar}|[/?])*"
    tail = f"(?:\\?{query})?(?:#{fragment})?"
    hier = f"(?://{authority}{path_abempty}|{path_absolute}|{path_rootless}|)"
    uri = f"{_SCHEME}:{hier}{tail}"
    if absolute:
        return f"(?:{uri})"
    relative = f"(?://{authority}{path_abempty}|{path_absolute}|{path_noscheme}|){tail}"
    return f"(?:{uri}|{relative})"


URI, URI_REFERENCE = _resource(False, True), _resource(False, False)
IRI, IRI_REFERENCE = _resource(True, True), _resource(True, False)

# RFC 6570 section 2 (level 4), "'" allowed in literals (see the module docstring).
_UT_LITERAL = f"(?:[!#$&'(-;=?-\\[\\]_a-z~{_UCSCHAR}{_IPRIVATE}]|{_PCT})"
_VARCHAR = f"(?:[A-Za-z0-9_]|{_PCT})"
_VARSPEC = f"{_VARCHAR}(?:\\.?{_VARCHAR})*(?::[1-9][0-9]{{0,3}}|\\*)?"
_EXPRESSION = f"\\{{[+#./;?&=,!@|]?{_VARSPEC}(?:,{_VARSPEC})*\\}}"
URI_TEMPLATE = f"(?:{_UT_LITERAL}|{_EXPRESSION})*"

# RFC 6901 section 3: json-pointer = *( "/" reference-token ); reference-token = *( unescaped / "~" ( "0" / "1" ) )
_UNESCAPED = units_for([(0, ord("/") - 1), (ord("/") + 1, ord("~") - 1), (ord("~") + 1, 0x10FFFF)])
JSON_POINTER = f"(?:/(?:{_UNESCAPED}|~[01])*)*"
RELATIVE_JSON_POINTER = f"(?:(?:0|[1-9][0-9]*)(?:#|{JSON_POINTER}))"

FORMATS = {"email": EMAIL, "date": DATE, "time": TIME, "date-time": DATE_TIME, "ipv4": IPV4, "ipv6": IPV6, "uuid": UUID,
           "duration": DURATION, "hostname": HOSTNAME, "uri": URI, "uri-reference": URI_REFERENCE, "iri": IRI,
           "iri-reference": IRI_REFERENCE, "uri-template": URI_TEMPLATE, "json-pointer": JSON_POINTER,
           "relative-json-pointer": RELATIVE_JSON_POINTER}


#: The ``format`` names some JSON Schema draft defines (draft 2020-12 section 7.3, draft 2019-09, draft-07, draft-04,
#: draft-03 section 5.23). One of them that :data:`FORMATS` lacks is *known* but not compiled: an error, never an
#: annotation (a validator with a format checker may assert it). Any other name is *unknown*: an annotation for the
#: validator (python-jsonschema's :class:`~jsonschema.FormatChecker` passes every instance of a format it has no
#: checker for, and draft 2020-12 makes ``format`` an annotation without the format-assertion vocabulary).
SPEC_FORMATS = frozenset({
    "date-time", "date", "time", "duration", "email", "idn-email", "hostname", "idn-hostname", "ipv4", "ipv6", "uri",
    "uri-reference", "iri", "iri-reference", "uuid", "uri-template", "json-pointer", "relative-json-pointer", "regex",
    # draft-03 only
    "utc-millisec", "color", "style", "phone", "ip-address", "host-name",
})


def _checked_formats() -> frozenset:
    """The format names the installed jsonschema checks under some draft (they depend on optional packages)."""
    import jsonschema

    names = set(jsonschema.FormatChecker.checkers)
    for draft in ("Draft3", "Draft4", "Draft6", "Draft7", "Draft201909", "Draft202012"):
        checker = getattr(getattr(jsonschema, draft + "Validator", None), "FORMAT_CHECKER", None)
        names.update(getattr(checker, "checkers", ()))
    return frozenset(names)


_KNOWN: frozenset | None = None


def is_known_format(name) -> bool:
    """Whether ``name`` is a format corral compiles, one a draft defines, or one the installed jsonschema checks.

    A string that is none of these is an *unknown* format: with ``formats="assert"`` the compiler treats it as an
    annotation (with a :class:`~corral.compile.json_schema.compiler.FormatAnnotationWarning`), as the validator does. A non-string is not
    a format name at all (it is never unknown in this sense: it stays an error).
    """
    global _KNOWN
    if not isinstance(name, str):
        return True
    if name in FORMATS or name in SPEC_FORMATS:
        return True
    if _KNOWN is None:
        _KNOWN = _checked_formats()
    return name in _KNOWN


def without_unknown_formats(node, found: dict, pointer: str = ""):
    """A copy of the schema ``node`` without the ``format`` keywords that name an unknown format (see
    :func:`is_known_format`), in it and in every subschema; ``found`` gets pointer -> name of each one dropped.

    This is what makes them annotations everywhere (under ``not``, in ``allOf`` merges, beside ``enum``), exactly:
    an annotation constrains nothing, so a schema with one has the language of the schema without it.
    """
    from corral.compile.json_schema.refs import _SCHEMA_LISTS, _SCHEMA_MAPS, _SCHEMA_ONE
    from corral.compile.json_schema.vocab import ptr

    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "format" and isinstance(value, str) and not is_known_format(value):
            found.setdefault(ptr(pointer, key), value)
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: without_unknown_formats(sub, found, ptr(pointer, key, name)) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [without_unknown_formats(sub, found, ptr(pointer, key, i)) for i, sub in enumerate(value)]
        elif key in _SCHEMA_ONE:
            value = without_unknown_formats(value, found, ptr(pointer, key))
        out[key] = value
    return out


def format_regex(name: str, unit: str) -> str | None:
    """Regex for the content of a canonical JSON string conforming to format ``name`` (None: not supported).

    Parameters
    ----------
    name : str
        The ``format`` value.
    unit : str
        Regex for one canonical unit of string content. The formats that allow ``"``, ``\\`` or control characters
        (``email``'s quoted local part, ``json-pointer``) are written over those units' escaped spellings.

    Returns
    -------
    str or None
    """
    return FORMATS.get(name)


# ---------------------------------------------------------------------- checking instances (jsonschema)

_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _hostname_ok(s: str) -> bool:
    """RFC 1123 host name: dot-separated LDH labels of 1-63 characters, no hyphen at either end, <= 253 in all."""
    return len(s) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in s.split("."))


def format_checker(cls=None):
    """A :class:`jsonschema.FormatChecker` consistent with the compiler's ``format`` support.

    Parameters
    ----------
    cls : jsonschema validator class, optional
        Whose ``FORMAT_CHECKER`` provides the formats the compiler does not compile (default Draft 2020-12).

    Returns
    -------
    jsonschema.FormatChecker
    """
    import jsonschema

    base = (cls or jsonschema.Draft202012Validator).FORMAT_CHECKER
    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = dict(base.checkers)

    def by_regex(regex: str):
        compiled = None  # compiled on first use: most schemas use few formats, and some regexes are large

        def check(instance) -> bool:
            nonlocal compiled
            if not isinstance(instance, str):
                return True
            if compiled is None:
                compiled = re.compile(regex)
            # the formats are over canonical content: json.dumps(instance, ensure_ascii=False)[1:-1], which is
            # encode_basestring (the C encoder json.dumps calls for a str) without its quotes
            return compiled.fullmatch(encode_basestring(instance)[1:-1]) is not None

        return check

    for name, regex in FORMATS.items():
        checker.checkers[name] = (by_regex(regex), ())
    checker.checkers["hostname"] = (lambda x: not isinstance(x, str) or _hostname_ok(x), ())
    return checker
