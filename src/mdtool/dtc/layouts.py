"""Compiled binary layouts: one `struct.Struct` per message plus what decoding old and new peers needs.

The field end offsets are kept because a peer built against an older header sends a shorter struct:
every field that does not end inside the received `Size` must take its default, exactly as the official
`GetX()` accessors do.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from mdtool.dtc.messages import MESSAGE_CLASSES, Message

HEADER = struct.Struct("<HH")
STRING = "s"
FLOAT = "f"
INTEGER = "i"


@dataclass(frozen=True, slots=True)
class CompiledLayout:
    cls: type[Message]
    type_id: int
    struct: struct.Struct
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    string_sizes: tuple[int, ...]
    ends: tuple[int, ...]
    defaults: tuple[Any, ...]
    default_bytes: bytes

    @property
    def size(self) -> int:
        return self.struct.size


def compile_layout(cls: type[Message]) -> CompiledLayout:
    fmt = "<HH"
    names: list[str] = []
    kinds: list[str] = []
    sizes: list[int] = []
    ends: list[int] = []
    for name, code in cls.LAYOUT:
        fmt += code
        if name is None:
            continue
        names.append(name)
        kinds.append(STRING if code.endswith("s") else FLOAT if code in ("f", "d") else INTEGER)
        sizes.append(int(code[:-1]) if code.endswith("s") else 0)
        ends.append(struct.calcsize(fmt))
    compiled = struct.Struct(fmt)
    default = cls()
    defaults = tuple(getattr(default, name) for name in names)
    values = [
        value.encode("latin-1") if kind == STRING else value
        for value, kind in zip(defaults, kinds, strict=True)
    ]
    return CompiledLayout(
        cls=cls,
        type_id=cls.TYPE,
        struct=compiled,
        names=tuple(names),
        kinds=tuple(kinds),
        string_sizes=tuple(sizes),
        ends=tuple(ends),
        defaults=defaults,
        default_bytes=compiled.pack(compiled.size, cls.TYPE, *values),
    )


LAYOUTS: dict[type[Message], CompiledLayout] = {cls: compile_layout(cls) for cls in MESSAGE_CLASSES}
LAYOUTS_BY_TYPE: dict[int, CompiledLayout] = {layout.type_id: layout for layout in LAYOUTS.values()}
