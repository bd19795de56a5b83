"""Options described once. An option family is a frozen dataclass whose fields each carry a ``Meta``: the CLI
flag, the panel's label, the help, the range, the choices or the plain word its values must be.

Everything else is derived from these descriptions: the CLI's flags of every command that takes a family
(``commands.parsing``), the panel's properties with their labels, ranges and defaults (``panels.properties``),
the job file (``to_record`` / ``from_record``), the checks and the wording of every refusal (``OptionError``
names an option by its flag on the command line and by its label in the panel). A default, a range or a
choice is written once, in the family's field.

Families: the dataset's ``core.settings.Settings``; the scene source and the run (``app.dataset``); a
collection's options (``core.collection``); how a job's bucket is reached (``cloud.s3``); each engine's own
(``cloud/engines/``); a submission's (``cloud.actions``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields

from .errors import UserError

Choice = tuple[str, str, str]
"""(identifier, label, description), as Blender's enum items want them."""
UNSET = "UNSET"
"""The panel's enum item of a choice left unset (the scene's engine, the importer's axis)."""


@dataclass(frozen=True)
class Meta:
    """How one option is asked for and checked, wherever it is asked for."""

    flag: str
    label: str
    help: str
    metavar: str = ""
    low: float | None = None
    """Smallest allowed value (inclusive)."""
    high: float | None = None
    positive: bool = False
    """The value must be above 0."""
    choices: tuple[Choice, ...] = ()
    """Allowed values; empty for formats, whose names the exporters give (``choices=`` of the derivers)."""
    noun: str = "value"
    """What one of the choices is called in a message: "unknown pass 'albedo'"."""
    none_means: str = ""
    """For an option that may be left unset: what that means, shown in the panel and the CLI help."""
    shown: object = None
    """The value the panel offers when an unset option is switched on, or in place of the default."""
    part: int | None = None
    """This field is element ``part`` of a compound flag (``--elevation MIN,MAX``)."""
    panel: str = ""
    """How the panel edits it, when not by its type: "camera" (an object picker), "length" (scene units),
    "file" (a file picker; the value is kept as an absolute path), or "none" (not in the panel)."""
    word: str = ""
    """A pattern each text value must match whole (ASCII only): one plain word of its kind, since it goes into
    another program's input (a script, a manifest, a command line)."""
    what: str = ""
    """What such a word is, for the refusal: "a Slurm partition"."""
    secret: bool = False
    """Never quoted in a refusal: it may be a secret typed in the wrong place."""
    repeat: bool = False
    """The CLI takes the option once per value (``--sbatch-arg A --sbatch-arg B``)."""
    shell: bool = False
    """The CLI takes one command line, split into words as a shell splits it."""
    prop: str = ""
    """The panel property's name, where it is not the family's prefix and the field's name."""
    unset: str = UNSET
    """The panel's enum item of a choice left unset (saved in .blend files: an item's id never changes)."""
    unset_label: str = ""
    """That item's label (default: "Scene's <label>")."""
    const: str | None = None
    """The value of the flag given without one (``--emit`` alone: the job folder's own place)."""
    parse: typing.Callable[[str], object] | None = None
    """How the CLI's text becomes the value, where the option's kind does not say (``--shard I/N``)."""
    ordered: bool = False
    """A list whose order is the user's (the first format holds the images); others take one canonical order,
    so equal options compare equal."""


def option(default, meta: Meta):
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata={"meta": meta})
    return field(default=default, metadata={"meta": meta})


REQUIRED = dataclasses.MISSING


def required(meta: Meta):
    """An option the family cannot do without (an engine's queue): no default."""
    return field(metadata={"meta": meta})


class OptionError(UserError):
    """An option's value is wrong. The message names options in the caller's words: ``{}`` is the option
    itself and ``{name}`` any other option, a flag on the CLI (``str``), a label in the panel."""

    def __init__(self, name: str, text: str):
        self.option, self.text = name, text
        super().__init__(self.worded(flag_of))

    def worded(self, name_of) -> str:
        return re.sub(r"\{(\w*)\}", lambda m: name_of(m.group(1) or self.option), self.text)


FAMILIES: list[type] = []
"""Every family, in the order they registered: how a name in a refusal finds its flag and label."""


def family(cls):
    """Register an option family (a class decorator): its fields' names become words of refusals."""
    FAMILIES.append(cls)
    return cls


def _meta_anywhere(name: str) -> Meta | None:
    for cls in FAMILIES:
        f = fields_of(cls).get(name)
        if f is not None:
            return f.metadata["meta"]
    return None


def flag_of(name: str) -> str:
    meta = _meta_anywhere(name)
    return meta.flag if meta is not None else f"--{name.replace('_', '-')}"


def label_of(name: str) -> str:
    meta = _meta_anywhere(name)
    return meta.label if meta is not None else name.replace("_", " ").title()


_FIELDS: dict[type, dict] = {}
_HINTS: dict[type, dict] = {}


def fields_of(cls) -> dict[str, dataclasses.Field]:
    """The family's described fields by name (fields without a ``Meta`` are no options)."""
    if cls not in _FIELDS:
        _FIELDS[cls] = {f.name: f for f in fields(cls) if "meta" in f.metadata}
    return _FIELDS[cls]


def meta_of(cls, name: str) -> Meta:
    return fields_of(cls)[name].metadata["meta"]


def default_of(cls, name: str):
    f = fields_of(cls)[name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return REQUIRED


def _hint(cls, name: str):
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls][name]


def _base_type(cls, name: str):
    """The field's type without its ``| None``."""
    hint = _hint(cls, name)
    if isinstance(hint, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def optional(cls, name: str) -> bool:
    return _base_type(cls, name) is not _hint(cls, name)


def kind_of(cls, name: str) -> str:
    """bool, int, float, str, list (a tuple of words or choices), size (a (w, h) pair) or dict (name to word)."""
    base = _base_type(cls, name)
    origin = typing.get_origin(base)
    if origin is tuple:
        return "list" if typing.get_args(base)[-1] is Ellipsis else "size"
    if origin is dict or base is dict:
        return "dict"
    return base.__name__


def item_type(cls, name: str):
    return typing.get_args(_base_type(cls, name))[0]


def choice_ids(cls, name: str, dynamic: dict | None = None) -> tuple:
    """The allowed values of an option, in their canonical order (``dynamic``: a registry's names, for an
    option whose choices a registry gives: the formats)."""
    meta = meta_of(cls, name)
    if not meta.choices:
        return tuple(dynamic or ())
    ids = [c[0] for c in meta.choices]
    return tuple(int(i) for i in ids) if kind_of(cls, name) == "list" and item_type(cls, name) is int else tuple(ids)


def check_fields(obj, dynamic: dict | None = None) -> None:
    """Every described field of ``obj`` of its kind and within its range, choices or word (``OptionError``)."""
    cls = type(obj)
    for name in fields_of(cls):
        check_value(cls, name, getattr(obj, name), dynamic)


def check_value(cls, name: str, value, dynamic: dict | None = None) -> None:
    if value is None:
        if not optional(cls, name):
            raise OptionError(name, "{} must be given")
        return
    meta, kind = meta_of(cls, name), kind_of(cls, name)
    if kind == "bool":
        if not isinstance(value, bool):
            raise OptionError(name, f"{{}} must be true or false, not {value!r}")
    elif kind in ("int", "float", "size"):
        if kind == "size" and not (isinstance(value, tuple) and len(value) == 2):
            raise OptionError(name, f"{{}} must be a width and a height, not {value!r}")
        for x in value if kind == "size" else (value,):
            check_number(name, meta, x, whole=kind != "float")
    elif kind == "str":
        check_text(name, meta, value, cls, dynamic)
    elif kind == "list":
        if not isinstance(value, tuple):
            raise OptionError(name, f"{{}} must be a list, not {value!r}")
        allowed = choice_ids(cls, name, dynamic)
        for x in value:  # 2.0 == 2, yet a list of factors holds integers: a float is a value no run writes
            if (meta.choices or dynamic) and not any(x == a and type(x) is type(a) for a in allowed):
                shown = ", ".join(map(str, allowed))
                raise OptionError(name, f"{{}}: unknown {meta.noun} '{x}' (choose from {shown})")
            if not (meta.choices or dynamic):
                check_text(name, meta, x, cls)
        if (meta.choices or dynamic) and len(set(value)) != len(value):
            raise OptionError(name, f"{{}} lists a {meta.noun} twice")
    elif kind == "dict":
        if not isinstance(value, dict):
            raise OptionError(name, f"{{}} must be NAME=VALUE pairs, not {value!r}")
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, str):
                raise OptionError(name, "{} takes NAME=VALUE pairs of text")


def check_number(name: str, meta: Meta, x, whole: bool) -> None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) or (whole and type(x) is not int):
        raise OptionError(name, f"{{}} must be a {'whole' if whole else 'finite'} number, not {x!r}")
    below = (meta.positive and x <= 0) or (meta.low is not None and x < meta.low)
    if below or (meta.high is not None and x > meta.high):
        raise OptionError(name, f"{{}} must be {range_words(meta, whole)}, not {_number(x, whole)}")


def range_words(meta: Meta, whole: bool) -> str:
    """ "1 to 10" for counts; "at least 1 and at most 5000" for measures; "above 0"."""
    lo, hi = (None if v is None else _number(v, whole) for v in (meta.low, meta.high))
    if whole and lo is not None and hi is not None:
        return f"{lo} to {hi}"
    low = "above 0" if meta.positive else None if lo is None else f"at least {lo}"
    return " and ".join(b for b in (low, None if hi is None else f"at most {hi}") if b)


def _number(x, whole: bool) -> str:
    """A count in full (1048576, not 1.04858e+06); a measure as short as it reads."""
    return str(int(x)) if whole and float(x).is_integer() else f"{x:g}"


def check_text(name: str, meta: Meta, value, cls=None, dynamic: dict | None = None) -> None:
    if not isinstance(value, str):
        raise OptionError(name, f"{{}} must be text, not {type(value).__name__}")
    if meta.choices and cls is not None and value not in choice_ids(cls, name, dynamic):
        allowed = ", ".join(map(str, choice_ids(cls, name, dynamic)))
        raise OptionError(name, f"{{}}: unknown {meta.noun} '{value}' (choose from {allowed})")
    if meta.word and not (value.isascii() and re.fullmatch(meta.word, value)):
        shown = "..." if meta.secret else repr(value)
        raise OptionError(name, f"{{}} {shown} is not {meta.what or 'a plain word'}")
    if not meta.word and ("\n" in value or "\0" in value):
        raise OptionError(name, "{} takes plain words (no newlines)")


def value_from_text(cls, name: str, text, dynamic: dict | None = None):
    """An option's value from what a user typed (a comma list, ``WxH``, NAME=VALUE pairs, a command line), checked
    for its form only: the family's checks follow. Values that are no text (a bool flag, typed numbers) pass."""
    meta, kind = meta_of(cls, name), kind_of(cls, name)
    if meta.parse is not None and isinstance(text, str):
        try:
            return meta.parse(text)
        except ValueError as exc:
            raise OptionError(name, f"{{}} {exc}") from None
    if kind == "list" and meta.repeat and isinstance(text, list | tuple):
        return tuple(text)
    if kind == "dict" and isinstance(text, list | tuple):
        return _pairs(name, text)
    if not isinstance(text, str):
        return tuple(text) if isinstance(text, list) else text
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            what = "a whole number" if kind == "int" else "a number"
            raise OptionError(name, f"{{}} takes {what}, not {text!r}") from None
    if kind == "size":
        try:
            w, h = (int(p) for p in text.lower().split("x"))
        except ValueError:
            raise OptionError(name, f"{{}} must look like 800x600, not '{text}'") from None
        return w, h
    if kind == "list":
        return _list_from_text(cls, name, text, dynamic)
    if meta.const is not None and text == meta.const:  # the flag given without a value
        return text
    if not text.strip():
        leave = "" if default_of(cls, name) is REQUIRED else "; leave the option out instead"
        raise OptionError(name, "{} is empty" + leave)
    if meta.choices:
        return next((c for c in choice_ids(cls, name) if str(c).lower() == text.lower()), text)
    if meta.panel == "file":  # kept as an absolute path: a run from another folder must mean the same file
        from pathlib import Path

        return str(Path(text).expanduser().absolute())
    return text


def _list_from_text(cls, name: str, text: str, dynamic: dict | None):
    meta = meta_of(cls, name)
    if meta.shell:
        import shlex

        try:
            words = tuple(shlex.split(text))
        except ValueError:
            raise OptionError(name, f"{{}} {text!r} is not a command line") from None
        if not words:
            raise OptionError(name, "{} is empty; leave the option out instead")
        return words
    items = [p.strip() for p in text.split(",") if p.strip()]
    if not items:
        raise OptionError(name, "{} lists nothing; leave the option out for none")
    allowed = choice_ids(cls, name, dynamic)
    if item_type(cls, name) is int:
        try:
            items = [int(p) for p in items]
        except ValueError:
            raise OptionError(name, f"{{}} takes whole numbers like 2,4,8, not '{text}'") from None
    elif meta.choices:  # one canonical spelling: "Depth" is the pass "depth"
        items = [next((c for c in allowed if str(c).lower() == x.lower()), x) for x in items]
    check_value(cls, name, tuple(items), dynamic)
    if meta.ordered or not allowed:
        return tuple(items)
    return tuple(x for x in allowed if x in items)


def _pairs(name: str, items) -> dict:
    pairs = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep:
            raise OptionError(name, "{} takes NAME=VALUE")
        if key in pairs:
            raise OptionError(name, f"{{}} gives {key[:40]!r} twice")
        pairs[key] = value
    return pairs


def panel_name(cls, name: str) -> str:
    """The panel property holding an option: the family's prefix and the field's name, unless it says."""
    meta = meta_of(cls, name)
    return meta.prop or f"{getattr(cls, 'PANEL_PREFIX', '')}{name}"


def switch_of(cls, name: str) -> str | None:
    """The panel's ``use_`` switch of an option that may be left unset (off: unset, as leaving out the flag),
    or None: unset texts are an empty field, unset choices an enum item of their own (``UNSET``)."""
    if not optional(cls, name) or kind_of(cls, name) == "str":
        return None
    meta = meta_of(cls, name)
    return "use_" + (meta.flag.lstrip("-").replace("-", "_") if meta.part is not None else name)


def build(cls, values: dict, subject: str, name_of=None):
    """The family from the values given (a value of None was not given: its default holds), or one sentence
    naming what ``subject`` still needs, in the asker's words (``name_of``: flags, or the panel's labels)."""
    name_of = name_of or flag_of
    missing = [n for n in fields_of(cls) if default_of(cls, n) is REQUIRED and values.get(n) in (None, "")]
    if missing:
        raise UserError(f"{subject} needs {' and '.join(name_of(n) for n in missing)}")
    return cls(**{k: v for k, v in values.items() if v is not None})


def to_record(obj) -> dict:
    """What a job or batch file records of ``obj`` (JSON's lists where the family holds tuples)."""
    return dataclasses.asdict(obj)


def from_record(cls, d, what: str):
    """The family back from its record; anything no run writes is one sentence: "the job's ``what`` options
    are damaged" and why. Lists become tuples; every check of the family runs (``__post_init__``)."""
    damaged = f"the job's {what} options are damaged"
    known = fields_of(cls)
    if not isinstance(d, dict) or not set(d) <= set(known):
        raise UserError(damaged)
    missing = [n for n in known if n not in d and default_of(cls, n) is REQUIRED]
    if missing:
        raise UserError(f"{damaged}: {flag_of(missing[0])} is missing")
    values = {}
    for name, value in d.items():
        kind = kind_of(cls, name)
        if kind in ("list", "size") and isinstance(value, list):
            value = tuple(value)
        if value is not None and kind == "str" and not isinstance(value, str):
            raise UserError(f"{damaged}: {flag_of(name)} is not text")
        values[name] = value
    try:
        obj = cls(**values)
        check_fields(obj)
    except (UserError, TypeError) as exc:
        raise UserError(f"{damaged}: {exc}") from None
    return obj


class Options:
    """Base of the families that check themselves when made (an engine's, a bucket's): a value that is not
    of its kind never exists, from the command line, the panel or a job file alike."""

    FAMILY: typing.ClassVar[str] = ""
    """How a damaged job file names them: "the job's Slurm options are damaged"."""
    PANEL_PREFIX: typing.ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_fields(self)
        self.check()

    def check(self) -> None:
        """Checks across fields, or beyond one field's kind (a family adds them)."""

    @classmethod
    def from_record(cls, d):
        return from_record(cls, d, cls.FAMILY)

    def to_record(self) -> dict:
        return to_record(self)
