"""Mix targets: the preset file, parsing a target spec, label mappings, and the experiment's group-week
metrics."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from groupstats.errors import ParameterError
from groupstats.paths import PRESETS_DIR


MIXES_FILE = PRESETS_DIR / "mixes.yaml"
OTHER = "(other)"

#: Group-week outcomes of a mix experiment: name -> (numerator column, denominator column, text).
MIX_METRICS = {
    "messages_per_member_day": ("n_messages", "member_days",
                                "member messages (operators excluded) over member-days present"),
    "active_share": ("n_active", "n_present",
                     "members who sent a message in the week over members present in the week"),
    "replies_per_post": ("replies", "n_posts", "member quote-replies within 2 h over posts"),
    "read_rate": ("readers", "post_reach",
                  "readers within 24 h summed over the week's posts over members present summed over them"),
}


# ======================================================================================
# targets, presets and mappings
# ======================================================================================
@dataclass(frozen=True)
class MixTarget:
    """A target content mix.

    Attributes
    ----------
    shares : dict of str -> float
        Share of posts per category, summing to 1.
    name : str
        Preset name or the compact text it was parsed from.
    source : str or None
        Playbook article the preset comes from (title), None for a custom mix.
    """

    shares: dict
    name: str
    source: str | None = None

    @property
    def categories(self) -> list[str]:
        return list(self.shares)

    def vector(self, categories: list[str]) -> np.ndarray:
        """Shares over ``categories`` (0 for categories not in the target)."""
        return np.array([self.shares.get(c, 0.0) for c in categories], dtype=float)

    def compact(self) -> str:
        return ",".join(f"{c}:{100 * s:g}" for c, s in self.shares.items())

    def to_dict(self) -> dict:
        return {"name": self.name, "shares": dict(self.shares), "percent": self.compact(),
                "source": self.source}


@lru_cache(maxsize=1)
def _load_mix_file() -> dict:
    import yaml

    return yaml.safe_load(MIXES_FILE.read_text(encoding="utf-8"))


def mix_presets() -> dict[str, MixTarget]:
    """The content-mix presets shipped with groupstats (``presets/mixes.yaml``), by name."""
    raw = _load_mix_file()["presets"]
    return {name: _target_from_percent(spec["mix"], name, spec.get("source"))
            for name, spec in raw.items()}


def marketing_cap() -> tuple[str, float, str]:
    """Default marketing cap: (category, share in [0, 1], source article titles)."""
    raw = _load_mix_file()["marketing_cap"]
    return str(raw.get("category", "marketing")), float(raw["value"]) / 100, str(raw.get("source"))


def _target_from_percent(percent: dict, name: str, source: str | None) -> MixTarget:
    values = {}
    for cat, val in percent.items():
        cat = str(cat).strip()
        if not cat:
            raise ParameterError(f"Mix {name!r} has an empty category name; write e.g. "
                                 "'practical:30,interactive:50,lifestyle:20'.")
        if cat in values:
            raise ParameterError(f"Mix {name!r} names category {cat!r} twice; give each category once.")
        try:
            number = float(val)
        except (TypeError, ValueError):
            raise ParameterError(f"Mix {name!r}: the percentage of {cat!r} is {val!r}, not a number; "
                                 "write e.g. 'practical:30'.") from None
        if not math.isfinite(number) or number < 0:
            raise ParameterError(f"Mix {name!r}: the percentage of {cat!r} must be a number >= 0, "
                                 f"got {val!r}.")
        values[cat] = number
    total = sum(values.values())
    if not values:
        raise ParameterError("The target mix is empty; write e.g. 'practical:30,interactive:50,lifestyle:20'.")
    if abs(total - 100) > 1e-6:
        raise ParameterError(
            f"The target mix {name!r} sums to {total:g}%, not 100%; percentages of the categories "
            f"({', '.join(f'{c}:{v:g}' for c, v in values.items())}) must add up to exactly 100.")
    return MixTarget({c: v / 100 for c, v in values.items()}, name=name, source=source)


_PAIR = re.compile(r"^\s*([^:=,]+?)\s*[:=]\s*([^:=,]*?)\s*%?\s*$")


def parse_mix(spec) -> MixTarget:
    """Parse a target mix.

    Parameters
    ----------
    spec : str, dict or MixTarget
        A preset name (``"interactive_352"``), compact text
        (``"practical:30,interactive:50,lifestyle:20"``; ``=`` and ``%`` accepted), or a
        dict ``{category: percent}``.

    Returns
    -------
    MixTarget

    Raises
    ------
    ParameterError
        Unknown preset, unreadable text, negative or non-numeric percentages, repeated
        categories, or percentages not summing to 100.
    """
    if isinstance(spec, MixTarget):
        return spec
    if isinstance(spec, dict):
        return _target_from_percent(spec, name=",".join(f"{k}:{v}" for k, v in spec.items()), source=None)
    if not isinstance(spec, str) or not spec.strip():
        raise ParameterError(f"A target mix must be text such as 'practical:30,interactive:50,lifestyle:20' "
                             f"or a preset name ({', '.join(mix_presets())}); got {spec!r}.")
    text = spec.strip()
    presets = mix_presets()
    if ":" not in text and "=" not in text:
        if text in presets:
            return presets[text]
        raise ParameterError(f"Unknown mix preset {text!r}; presets: {', '.join(presets)}; or write the mix "
                             "as category:percent pairs, e.g. 'practical:30,interactive:50,lifestyle:20'.")
    percent = {}
    for part in text.split(","):
        if not part.strip():
            continue
        match = _PAIR.match(part)
        if match is None:
            raise ParameterError(f"Cannot read {part.strip()!r} in the target mix {text!r}; write "
                                 "category:percent pairs separated by commas, e.g. "
                                 "'practical:30,interactive:50,lifestyle:20'.")
        cat, val = match.group(1), match.group(2)
        if cat in percent:
            raise ParameterError(f"Mix {text!r} names category {cat!r} twice; give each category once.")
        percent[cat] = val
    return _target_from_percent(percent, name=text, source=None)


def load_mapping(mapping) -> dict[str, str]:
    """Read a label mapping: analyst label -> target category.

    Parameters
    ----------
    mapping : dict, str or Path, or None
        A dict, or a file: YAML / JSON (``label: category``; a top-level ``mapping:`` key is
        allowed) or CSV with columns ``label,category``.

    Returns
    -------
    dict of str -> str (empty for None)
    """
    if mapping is None:
        return {}
    if isinstance(mapping, dict):
        raw = mapping
    else:
        path = Path(mapping)
        if not path.exists():
            raise ParameterError(f"Mapping file {path} does not exist; write a YAML file with lines "
                                 "'your_label: category' (or a CSV with columns label,category).")
        text = path.read_text(encoding="utf-8-sig")
        try:
            if path.suffix.lower() == ".csv":
                frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
                if not {"label", "category"} <= set(frame.columns):
                    raise ParameterError(f"Mapping file {path} needs columns 'label' and 'category'; it has "
                                         f"{', '.join(frame.columns)}.")
                raw = dict(zip(frame["label"], frame["category"]))
            elif path.suffix.lower() == ".json":
                raw = json.loads(text)
            else:
                import yaml

                raw = yaml.safe_load(text)
        except ParameterError:
            raise
        except Exception as exc:
            raise ParameterError(f"Mapping file {path} cannot be read ({exc}); write YAML lines "
                                 "'your_label: category'.") from exc
        if isinstance(raw, dict) and isinstance(raw.get("mapping"), dict):
            raw = raw["mapping"]
        if not isinstance(raw, dict):
            raise ParameterError(f"Mapping file {path} must hold 'label: category' pairs.")
    out = {}
    for key, val in raw.items():
        if key is None or val is None or not str(key).strip() or not str(val).strip():
            raise ParameterError(f"The mapping has an empty label or category ({key!r}: {val!r}); every "
                                 "line must read 'your_label: category'.")
        out[str(key).strip()] = str(val).strip()
    return out


def apply_mapping(content_type: pd.Series, mapping: dict | None) -> pd.Series:
    """Translate content labels with ``mapping``; labels not in it are kept."""
    labels = content_type.astype("str").str.strip()
    if not mapping:
        return labels
    return labels.map(lambda v: mapping.get(v, v)).astype("str")


def _check_categories(target: MixTarget, carried: set, mapping: dict, what: str) -> None:
    provided = set(mapping.values())
    missing = [c for c in target.categories if c not in carried and c not in provided]
    if missing:
        raise ParameterError(
            f"Target category(ies) {', '.join(repr(c) for c in missing)} of the mix {target.name!r} "
            f"appear in no post of {what} and no mapping provides them; the posts carry: "
            f"{', '.join(sorted(carried)) or '(none)'}. Fix the target's category names, or pass a "
            "mapping file (--mapping FILE with lines 'your_label: category') that translates your "
            "content labels to the target's categories.")
