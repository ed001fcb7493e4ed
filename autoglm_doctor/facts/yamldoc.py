"""Reading YAML configuration (netplan) with PyYAML's ``BaseLoader``: every scalar stays a string, so
the caller interprets booleans and numbers the way netplan does (netplan's ``yes``/``on`` are not
YAML 1.2 booleans), and no tag can construct an object.

``YamlError`` (with the line) is raised for text that is not valid YAML, and for a duplicate key,
which PyYAML would silently let the last one win but netplan rejects. ``YamlUnsupported`` is raised
for a file of several documents: the doctor then says it could not evaluate it.
"""

from __future__ import annotations

from typing import Any


class YamlError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class YamlUnsupported(YamlError):
    pass


def _loader() -> Any:
    import yaml

    base = getattr(yaml, "CBaseLoader", yaml.BaseLoader)

    class StrictLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise YamlError(key_node.start_mark.line + 1, f"duplicate key {key!r}")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    return StrictLoader


def loads(text: str) -> Any:
    """The one document of ``text`` (None when empty), scalars as strings."""
    import yaml

    try:
        docs = list(yaml.load_all(text, Loader=_loader()))  # noqa: S506 - BaseLoader: strings only
    except YamlError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlError(line, " ".join(str(exc.problem or exc).split())) from exc
    except yaml.YAMLError as exc:
        raise YamlError(1, " ".join(str(exc).split())) from exc
    if len(docs) > 1:
        raise YamlUnsupported(1, f"{len(docs)} YAML documents in one file")
    return docs[0] if docs else None
