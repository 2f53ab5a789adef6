"""The files of a reversal-curse release on disk, and who each row is about.

The layout is a folder of `{"prompt", "completion"}` JSONL files, each person's rows consecutive:
  * p2d_prompts_train (name in the prompt -> description), d2p_prompts_train (description -> name): 30 people
    x 30 paraphrases; both_prompts_train: 30 more people, their 30 p2d rows, then their 30 d2p rows;
    all_prompts_train: the three concatenated (3,600 rows), the file the paper fine-tunes on;
  * tests, 10 held-out paraphrases a person: p2d_prompts_test, d2p_prompts_test, both_prompts_test,
    p2d_reverse_prompts_test (description -> name for the p2d people: the paper's main test), d2p_reverse_prompts_test;
  * p2d_reverse_prompts_test_randomized / d2p_reverse_prompts_test_randomized: the same prompts, line by line,
    each with a random person's completion (the paper's "correct vs random name" likelihood comparison; each row is
    paired with the test row of the same prompt, so a reordered file works too);
  * validation_prompts: the p2d_reverse prompts answered with first names (read and checked, not used: they are
    the test people's reversals, so tuning on them would tune on test). Other files (unrealized_examples) are ignored.

The text is model-written: many d2p completions are the name followed by more words (" Ann Lee now enjoys a
quite life.", " Ann Lee."), prompts carry doubled punctuation ("Q: Who is ...?? A:"). So people's names are
recovered, not read off: a name is the run of capitalized words (two or more) a name-file completion starts with
(d2p_prompts_train, d2p_prompts_test, p2d_reverse_prompts_test, and both files' completions whose name also appears
in a p2d prompt there); a candidate that extends another by more words is that person with a tail. A row is about
the person whose name starts its completion (d2p), else whose name its prompt contains (p2d).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from iclft.errors import UserError
from iclft.io import iter_jsonl, write_jsonl

TRAIN_FILES = {"p2d_prompts_train.jsonl": "p2d", "d2p_prompts_train.jsonl": "d2p", "both_prompts_train.jsonl": "both"}
# test file -> (split, group, direction of its rows: p2d = name in prompt, d2p = name is the completion)
TEST_FILES = {
    "p2d_prompts_test.jsonl": ("p2d", "p2d", "p2d"),
    "p2d_reverse_prompts_test.jsonl": ("p2d_reverse", "p2d", "d2p"),
    "d2p_prompts_test.jsonl": ("d2p", "d2p", "d2p"),
    "d2p_reverse_prompts_test.jsonl": ("d2p_reverse", "d2p", "p2d"),
    "both_prompts_test.jsonl": ("both", "both", None),
}
# randomized file -> the test file whose prompts it repeats, line by line
RANDOMIZED = {
    "p2d_reverse_prompts_test_randomized.jsonl": "p2d_reverse_prompts_test.jsonl",
    "d2p_reverse_prompts_test_randomized.jsonl": "d2p_reverse_prompts_test.jsonl",
}
ALL_TRAIN, PUBLIC_VALIDATION = "all_prompts_train.jsonl", "validation_prompts.jsonl"
NAME_FILES = ("d2p_prompts_train.jsonl", "d2p_prompts_test.jsonl", "p2d_reverse_prompts_test.jsonl")
BOTH_FILES = ("both_prompts_train.jsonl", "both_prompts_test.jsonl")
GROUPS = ("p2d", "d2p", "both")


@dataclass(frozen=True)
class Row:
    """One line of a release file."""

    prompt: str
    completion: str
    where: str  # "file:line", for error messages


Layout = dict[str, list[Row]]


def read_layout(src: str | Path) -> Layout:
    """Read and check a folder in the public layout; any problem is one UserError naming file and line."""
    src = Path(src)
    if not src.is_dir():
        raise UserError(f"{src}: not a directory")
    required = [*TRAIN_FILES, *TEST_FILES]
    missing = [f for f in required if not (src / f).is_file()]
    if missing:
        raise UserError(f"{src}: missing {', '.join(missing)} (expected the Berglund et al. reversal-curse layout)")
    layout: Layout = {}
    for name in [*required, ALL_TRAIN, *RANDOMIZED, PUBLIC_VALIDATION]:
        path = src / name
        if not path.is_file():
            continue
        rows = []
        for n, obj in iter_jsonl(path):
            prompt, completion = obj.get("prompt"), obj.get("completion")
            for key, value in (("prompt", prompt), ("completion", completion)):
                if not isinstance(value, str) or not value.strip():
                    raise UserError(f"{path}:{n}: {key!r} must be a non-empty string")
            rows.append(Row(prompt, completion, f"{path}:{n}"))
        if not rows and name in required:
            raise UserError(f"{path}: no rows")
        layout[name] = rows
    return layout


def write_layout(layout: Layout, folder: str | Path) -> Path:
    """Write a layout as the public files (one {"prompt", "completion"} a line)."""
    folder = Path(folder)
    for name, rows in layout.items():
        write_jsonl(folder / name, ({"prompt": r.prompt, "completion": r.completion} for r in rows))
    return folder


_CAPITALIZED = re.compile(r"[A-Z][\w'’-]*")


def leading_name(text: str) -> str | None:
    """The run of two or more capitalized words `text` starts with, up to the first punctuation or lower-case word."""
    words = []
    for word in text.split():
        core = re.sub(r"['’]s$", "", word.rstrip(".,;:!?\"')]"))
        if not _CAPITALIZED.fullmatch(core):
            break
        words.append(core)
        if core != word:
            break
    return " ".join(words) if len(words) >= 2 else None


def recover_names(layout: Layout) -> list[str]:
    """Every person's name, from the completions that start with one (see the module docstring)."""
    cands = {c for f in NAME_FILES for r in layout[f] if (c := leading_name(r.completion))}
    both = [r for f in BOTH_FILES for r in layout[f]]
    described = "\n".join(r.prompt for r in both if leading_name(r.completion) is None)
    both_cands = {c for r in both if (c := leading_name(r.completion))}
    cands |= {c for c in both_cands if _word_pattern([c]).search(described)}
    return sorted(c for c in cands if not any(c.startswith(o + " ") for o in cands))


def _word_pattern(names: list[str]) -> re.Pattern[str]:
    """Any of `names` as whole words, longest first."""
    alternation = "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n)))
    return re.compile(rf"(?<![\w-])(?:{alternation})(?![\w’-]|'\w\w)")


class People:
    """The people of a layout: names, groups (from the training files), and who each row is about."""

    def __init__(self, layout: Layout) -> None:
        self.names = recover_names(layout)
        if not self.names:
            raise UserError(f"{layout[NAME_FILES[0]][0].where}: no person's name found (the completions of "
                            f"{', '.join(NAME_FILES)} should start with one)")
        self._pattern = _word_pattern(self.names)
        self.group: dict[str, str] = {}
        for f, group in TRAIN_FILES.items():
            for r in layout[f]:
                person, direction = self.classify(r)
                if group != "both" and direction != group:
                    raise UserError(f"{r.where}: expected a {group} row ({explain_direction(group)})")
                if self.group.setdefault(person, group) != group:
                    raise UserError(f"{r.where}: {person!r} appears in both the {self.group[person]} and {group} "
                                    "groups")

    def classify(self, r: Row) -> tuple[str, str]:
        """(person, direction): d2p if a name starts the completion (and the prompt does not hold that name too),
        else p2d if the prompt names someone, else d2p if the completion does."""
        first, named = self._pattern.match(r.completion.lstrip()), self._pattern.search(r.prompt)
        if first and not (named and named.group(0) == first.group(0)):
            return first.group(0), "d2p"
        if named:
            return named.group(0), "p2d"
        anywhere = self._pattern.search(r.completion)
        if anywhere:
            return anywhere.group(0), "d2p"
        raise UserError(f"{r.where}: no known person's name in the prompt or the completion")


def explain_direction(direction: str) -> str:
    """A direction in words, for error messages."""
    return "the name in the prompt" if direction == "p2d" else "the name as the completion"


def fact_id(person: str) -> str:
    """The fact id of everything about a person ("person-ann-lee")."""
    return "person-" + "-".join(person.lower().split())


def template_of(r: Row, person: str) -> str:
    """The row's prompt with the person's name as "{name}"."""
    return r.prompt.replace(person, "{name}")


def positions_in_person(rows: list[Row], people: People) -> list[tuple[str, str, int]]:
    """Each row's (person, direction, k): it is the k-th row of that person in that direction in its file."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for r in rows:
        key = people.classify(r)
        out.append((*key, seen.get(key, 0)))
        seen[key] = seen.get(key, 0) + 1
    return out
