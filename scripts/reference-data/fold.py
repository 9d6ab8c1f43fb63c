"""Folding of text as blindmap's protocol-spec/keys.md §2.1 defines it, in Python.

This is the function the reference-data scripts use to fold every entry they write. It mirrors
`crates/blindmap-records/src/text.rs` (`fold`):

1. Unicode NFKD; remove combining marks in U+0300–036F, U+1AB0–1AFF, U+1DC0–1DFF, U+20D0–20FF,
   U+FE20–FE2F; NFC.
2. Per character: `.` `'` `’` `‘` `ʼ` `` ` `` `´` are deleted; `&` becomes the word `and`; a letter
   or digit is kept, lower-cased, with ß→ss, æ→ae, œ→oe, ø→o, ł→l, đ/ð→d, þ→th, ı→i, ς→σ;
   anything else separates words.
3. Words are joined by one space; no leading or trailing space.

One difference cannot be bridged with the standard library: Rust's `char::is_alphanumeric` is the
Unicode property Alphabetic (letters, letter numbers and Other_Alphabetic, which includes the
vowel signs of many non-Latin scripts) or Numeric (Nd, Nl, No). `unicodedata` has no
Other_Alphabetic, so `fold` raises `ValueError` on a combining or enclosing mark (category Mn, Mc,
Me) that survives step 1 instead of guessing. Such marks belong to non-Latin scripts, which the
reference-data scripts leave out before folding anyway. Letters and digits (categories L*, Nd, Nl,
No) are treated exactly as in Rust.
"""

import unicodedata

_DIACRITIC_RANGES = (
    (0x0300, 0x036F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)

_DELETED = frozenset(".'\u2019\u2018\u02bc`\u00b4")

_SPECIAL = {
    "ß": "ss", "ẞ": "ss",
    "æ": "ae", "Æ": "ae",
    "œ": "oe", "Œ": "oe",
    "ø": "o", "Ø": "o",
    "ł": "l", "Ł": "l",
    "đ": "d", "Đ": "d", "ð": "d", "Ð": "d",
    "þ": "th", "Þ": "th",
    "ı": "i",
    "ς": "σ",
}


def is_diacritic(c: str) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in _DIACRITIC_RANGES)


def _is_alphanumeric(c: str) -> bool:
    cat = unicodedata.category(c)
    if cat[0] == "L" or cat in ("Nd", "Nl", "No"):
        return True
    if cat in ("Mn", "Mc", "Me"):
        raise ValueError(
            f"mark U+{ord(c):04X} {unicodedata.name(c, '?')}: Other_Alphabetic is not known here"
        )
    return False


def fold(text: str) -> str:
    s = unicodedata.normalize("NFKD", text)
    s = "".join(c for c in s if not is_diacritic(c))
    s = unicodedata.normalize("NFC", s)
    out = []  # words
    word = []
    pending_space = False

    def push(piece: str) -> None:
        nonlocal pending_space, word
        if pending_space and (out or word):
            if word:
                out.append("".join(word))
            word = []
        pending_space = False
        word.append(piece)

    for c in s:
        if c in _DELETED:
            continue
        if c == "&":
            pending_space = True
            push("and")
            pending_space = True
            continue
        if not _is_alphanumeric(c):
            pending_space = True
            continue
        if c in _SPECIAL:
            push(_SPECIAL[c])
        else:
            # Lower-casing can itself produce a combining mark (`İ` → `i` + U+0307).
            push("".join(l for l in c.lower() if not is_diacritic(l)))
    if word:
        out.append("".join(word))
    return " ".join(out)


# keys.md §2.1 and crates/blindmap-records/src/text.rs's own test vectors.
_VECTORS = (
    ("ACME, Inc.", "acme inc"),
    ("Société Générale", "societe generale"),
    ("S.A. de C.V.", "sa de cv"),
    ("Barnes & Noble", "barnes and noble"),
    ("Barnes&Noble", "barnes and noble"),
    ("O’Brien's  Pub", "obriens pub"),
    ("Straße", "strasse"),
    ("Ørsted A/S", "orsted a s"),
    ("ＡＣＭＥ", "acme"),
    ("Coca-Cola", "coca cola"),
    ("  --  ", ""),
    ("Ĳssel", "ijssel"),
    ("İstanbul", "istanbul"),
    ("'s-Gravenhage", "s gravenhage"),
    ("Łódź", "lodz"),
    ("Þórshöfn", "thorshofn"),
    ("ΣΟΦΟΣ", "σοφοσ"),
    ("&&", "and and"),
    ("a&b", "a and b"),
)


def self_test() -> None:
    for given, want in _VECTORS:
        got = fold(given)
        if got != want:
            raise AssertionError(f"fold({given!r}) = {got!r}, want {want!r}")


if __name__ == "__main__":
    self_test()
    print("fold: all", len(_VECTORS), "vectors pass")
