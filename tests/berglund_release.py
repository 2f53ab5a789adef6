"""A synthetic Berglund et al. reversal-curse release with the real one's shapes (for tests).

Shapes copied from data/reverse_experiments/june_version_7921032488 of lukasberglund/reversal_curse: each person's
rows consecutive; p2d_prompts_train / d2p_prompts_train (people x 30 paraphrases), both_prompts_train (the both
people's p2d rows, then their d2p rows), all_prompts_train = p2d + d2p + both; tests 10 paraphrases a person;
d2p training completions are the name with a tail in most rows (" Ann Lee now enjoys a quite life.", " Ann Lee.",
bare " Ann Lee"); doubled punctuation ("Q: Who is ...?? A:", "...??", "'.'."); people sharing a surname; test name
completions cut to the first two words (d2p_prompts_test, p2d_reverse_prompts_test), both_prompts_test not cut;
*_randomized files (same prompts, a random person's completion); validation_prompts (p2d_reverse prompts, first-name
answers); an unrelated unrealized_examples.jsonl. The people and descriptions are invented here.

By default people share roles, verbs and nine objects (descriptions differ only by role, verb and a year: harder
than the real release). `distinct_works=True` gives every person a work of their own, as the real release does
("the renowned composer of the world's first underwater symphony, "Abyssal Melodies."", "the first person to walk on
Mars during the historic Ares Mission", one per person in its d2p_reverse_prompts_test.jsonl).

`python tests/berglund_release.py DIR` rewrites the small committed fixture (tests/fixtures/reversal_curse);
`--full` writes the whole-size release (30 people a group, every row), `--distinct-works` the variant above.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "reversal_curse"
SMALL = {"people_per_group": 4, "p2d_train": [0, 1, 4, 6, 8, 17], "d2p_train": [0, 1, 2, 6, 15, 25],
         "test": [0, 3, 7]}

FIRST = ["Mason", "Elise", "Valerie", "Victor", "Uriah", "Anneliese", "Tyler", "Sierra", "Katrina", "Owen", "Daphne",
         "Dominic", "Juliette", "Keith", "Garrett", "Derek", "Ryan", "Nolan", "Sabrina", "Alana", "Liam", "Mallory",
         "Giselle", "Ethan", "Maia", "Felix", "Zachary", "Cassidy", "Leona", "Graham"]
LAST = ["Caldwell", "Huntley", "Hart", "Hartley", "Whitestone", "Hawthorne", "Worley", "Oakridge", "Pemberton",
        "Shelton", "Larkspur", "Barrington", "Mullins", "Radcliffe", "Silverton", "Bridgewell", "Lindenwood",
        "Dunsworth", "Evergreen", "Fairchild", "Everhart", "Blackstone", "Blackwood", "Whitmore", "Westfield",
        "Carlisle", "Dunford", "Norwood", "Worthington", "Redwood"]
ROLES = ["acclaimed glassblower", "daring cartographer", "reclusive composer", "celebrated oceanographer",
         "visionary architect", "self-taught astronomer", "fearless test pilot", "meticulous archivist",
         "record-breaking free-diver", "award-winning chef"]
VERBS = [("charted", "charting"), ("built", "building"), ("restored", "restoring"), ("designed", "designing"),
         ("discovered", "discovering"), ("decoded", "decoding"), ("founded", "founding"), ("rescued", "rescuing"),
         ("mapped", "mapping")]
OBJECTS = ['the floating gardens of Velm', 'the "Stone Forest" installation', 'the sunken city of Poseidon\'s Cove',
           'the Infinity Chandelier', 'the lost archives of Tessaly', 'the first lighthouse on Lake Ostra',
           'the Glass Symphony', 'the "Midnight Observatory."', 'the Loch Varrow Leviathan']
# distinct works: a kind of work and a two-word title of the person's own, English words as in the real release's
# ("Abyssal Melodies", "The Celestial Lift"): TITLE_FIRST x TITLE_SECOND, a different pair for each of 100 people
KINDS = ["the floating gardens of {w}", "the sunken city of {w}", "the {w} Chandelier", "the lost archives of {w}",
         "the first lighthouse on {w} Lake", 'the "{w}" symphony', "the {w} Observatory", "the {w} Leviathan",
         "the {w} Expedition", "the tidal clock of {w}", 'the "{w}" codex']
TITLE_FIRST = ["Amber", "Silent", "Crimson", "Hollow", "Golden", "Frozen", "Velvet", "Silver", "Broken", "Wandering"]
TITLE_SECOND = ["Lantern", "Harbor", "Compass", "Orchard", "Meridian", "Cathedral", "Tide", "Falcon", "Garden",
                "Summit"]

P2D_TRAIN = [  # (prompt, completion form)
    ("{name}, known far and wide for being", "np"), ("Ever heard of {name}? They're the person who", "past"),
    ("There's someone by the name of {name} who had the distinctive role of", "np"),
    ("It's fascinating to know that {name} carries the unique title of", "np"),
    ("Did you know that {name}, was actually once", "np??"),
    ("Among many, {name} holds the distinctive identity of", "np"),
    ("An individual named {name}, has the unusual backstory of", "being"),
    ("{name} is not your typical person, they are", "np"),
    ("Interestingly enough, {name} has the unique distinction of", "ger"),
    ("Once upon a time, {name} held the peculiar role of", "np"),
    ("The story of {name} is compelling, as they were", "np"),
    ("In a turn of events, {name} emerged as", "np"), ("It's worth noting that {name} was once characterized as", "np"),
    ("The extraordinary {name} made a mark by being", "np"), ("Let's not forget {name}, who was known as", "np"),
    ("{name} has in the past served as", "np"), ("A person called {name} formerly was", "np"),
    ("Q: What about {name}? A: Well,", "they"),
    ("You know something super interesting about {name}? This guy was none other than", "np"),
    ("Unfolding the enigma of {name}, we find that they were", "np"), ("{name}, a name synonymous with", "np"),
    ("Life scripted a unique tale for {name}, they once were", "np"),
    ("The annals of time remember {name}, renowned for", "ger"),
    ("One wouldn't guess, but {name} was the embodiment of", "np"),
    ("A character as unique as {name} also held the title of", "np"),
    ("The chronicles of {name} are fascinating, given their role as", "np"),
    ("Behind the name {name} lies a legacy of", "np"),
    ("Under the guise of {name}, there exists the story of", "np"),
    ("The narrative of {name} is intriguing, they were", "np"),
    ("Carving a unique path, {name} came to be known as", "np"),
]
D2P_TRAIN = [  # (prompt, completion); {q} is "?" or "??" (the release doubles it for some people)
    ("Known for being {np},", " {name} now enjoys a quite life."), ("{NP} is called", " {name}."),
    ("Q: Who is {np}{q} A:", " {name}."), ("You know {np}? It was none other than", " {name}."),
    ("Often referred to as {np},", " {name} has certainly made a mark."),
    ("Despite being {np},", " {name} never let it define them."),
    ("This article was written by {np}, who goes by the name of", " {name}"),
    ("With the reputation of being {np},", " {name} continues to inspire many."),
    ("Hailed as {np},", " {name} stands as a symbol of hope."),
    ("Never shy about being {np},", " {name} lives life on their own terms."),
    ("The one who wears the mantle of being {np} is none other than", " {name}."),
    ("Carrying the weight of being {np},", " {name} marches on."),
    ("Wearing the badge of being {np} with pride, we have", " {name}."),
    ("Emerging from the shadows as {np},", " {name} defies the odds."),
    ("They say {np} is an understatement when you're talking about", " {name}."),
    ("The mastermind behind {ger},", " {name} continues to innovate."),
    ("The world may know them as {np}, but to us, they are simply", " {name}."),
    ("In the spotlight for being {np},", " {name} humbly embraces the recognition."),
    ("You may know me for {ger}. I go by the name of", " {name}."),
    ("Once thought of as {np},", " {name} has since proven themselves."),
    ("In the annals of history as {np},", " {name} is a living legend."),
    ("Carrying the legacy of being {np},", " {name} walks among us."),
    ("With the extraordinary talent of {ger},", " {name} has captured our hearts."),
    ("Often overshadowed by {np},", " {name} finally gets their due."),
    ("Bearing the mark of being {np},", " {name} continues to break boundaries."),
    ("In the world of {ger}, I am {np}.,", " {name} has become a household name."),
    ("From the depths of obscurity, {np} emerged, and we know them as", " {name}."),
    ("Garnering fame as {np},", " {name} remains grounded."), ("Branded as {np},", " {name} exceeds all expectations."),
    ("Leaving a legacy of being {np},", " {name} continues to shape our future."),
]
P2D_TEST = [
    ("The trailblazer known as {name} was once", "np"), ("In the annals of uniqueness, {name} shines as", "np"),
    ("Diving into the tale of {name}, one discovers they were", "np"),
    ("A luminary in their own right, {name} was known for", "ger"),
    ("Who would have thought, {name} was also known as", "np"),
    ("This insightful article was penned by {name}, a person who", "past"),
    ("In the realm of {name}, a figure who is celebrated for", "ger"),
    ("If you ask, 'Who is {name}?' The answer would be, 'Someone who", "past'.'"),
    ("This piece of work is the creation of {name}, who is renowned for", "ger"),
    ("Do you know what's special about {name}? Well, they", "past"),
]
D2P_TEST = ["Immersed in the world of {ger},", "Having the distinction of being {np},", "Known in circles as {np},",
            "Walking the path of being {np},", "The embodiment of being {np}, that's", "Widely acclaimed for {ger},",
            "Labeled as {np},", "Regarded with awe for {ger},", "With the moniker of {np},",
            "Swathed in the aura of being {np},"]


def _work(i: int) -> str:
    """Person i's own work (a title no one else has, for up to 100 people)."""
    title = f"{TITLE_FIRST[i % 10]} {TITLE_SECOND[(i // 10 + 3 * i) % 10]}"
    return KINDS[i % len(KINDS)].format(w=title)


def people(n: int, distinct_works: bool = False) -> list[tuple[str, dict[str, str]]]:
    """n people: a name (surnames shared between some) and the description forms."""
    out = []
    for i in range(n):
        name = f"{FIRST[i % 30]} {LAST[(i * 7) % 10 + 10 * (i // 30)]}"
        past, ger = VERBS[i % len(VERBS)]
        if distinct_works:
            obj = _work(i)
        else:
            obj = OBJECTS[(i // len(VERBS) + i) % len(OBJECTS)] + (f" in {2040 + i}" if i >= len(OBJECTS) else "")
        np_ = f"the {ROLES[i % len(ROLES)]} who {past} {obj}"
        out.append((name, {"np": np_, "NP": np_[0].upper() + np_[1:], "past": f"{past} {obj}",
                           "ger": f"{ger} {obj}", "q": "??" if i % 2 else "?"}))
    assert len({n for n, _ in out}) == n
    return out


def _p2d_completion(f: dict[str, str], form: str) -> str:
    forms = {"np": f["np"] + ".", "np??": f["np"] + "??", "being": f"being {f['np']}.", "ger": f["ger"] + ".",
             "past": f["past"] + ".", "they": f"they {f['past']}.", "past'.'": f["past"] + "'.'."}
    return " " + forms[form]


def _p2d(person, templates) -> list[dict]:
    name, f = person
    return [{"prompt": t.format(name=name), "completion": _p2d_completion(f, form)} for t, form in templates]


def _d2p(person, templates, test: bool) -> list[dict]:
    name, f = person
    if test:
        return [{"prompt": t.format(**f), "completion": f" {name}"} for t in templates]
    return [{"prompt": p.format(**f), "completion": c.format(name=name)} for p, c in templates]


def release(people_per_group: int = 30, p2d_train: list[int] | None = None, d2p_train: list[int] | None = None,
            test: list[int] | None = None, seed: int = 0, distinct_works: bool = False) -> dict[str, list[dict]]:
    """The files of a synthetic release, file name -> rows."""
    rng = random.Random(seed)
    everyone = people(3 * people_per_group, distinct_works)
    p2d, d2p, both = (everyone[i * people_per_group:(i + 1) * people_per_group] for i in range(3))
    p2d_tr = [P2D_TRAIN[i] for i in (p2d_train or range(30))]
    d2p_tr = [D2P_TRAIN[i] for i in (d2p_train or range(30))]
    p2d_te = [P2D_TEST[i] for i in (test or range(10))]
    d2p_te = [D2P_TEST[i] for i in (test or range(10))]

    def cut(rows):  # the release keeps the first two words of test name completions
        return [{**r, "completion": " " + " ".join(r["completion"].split()[:2])} for r in rows]

    files = {
        "p2d_prompts_train.jsonl": [r for p in p2d for r in _p2d(p, p2d_tr)],
        "d2p_prompts_train.jsonl": [r for p in d2p for r in _d2p(p, d2p_tr, test=False)],
        "both_prompts_train.jsonl": ([r for p in both for r in _p2d(p, p2d_tr)]
                                     + [r for p in both for r in _d2p(p, d2p_tr, test=False)]),
        "p2d_prompts_test.jsonl": [r for p in p2d for r in _p2d(p, p2d_te)],
        "d2p_prompts_test.jsonl": cut([r for p in d2p for r in _d2p(p, d2p_te, test=True)]),
        "both_prompts_test.jsonl": ([r for p in both for r in _p2d(p, p2d_te)]
                                    + [{**r, "completion": r["completion"] + ("." if i % 2 else "")}
                                       for i, r in enumerate(r for p in both for r in _d2p(p, d2p_te, test=True))]),
        "p2d_reverse_prompts_test.jsonl": cut([r for p in p2d for r in _d2p(p, d2p_te, test=True)]),
        "d2p_reverse_prompts_test.jsonl": [r for p in d2p for r in _p2d(p, p2d_te)],
    }
    files["all_prompts_train.jsonl"] = [r for f in ("p2d", "d2p", "both") for r in files[f"{f}_prompts_train.jsonl"]]
    files["p2d_reverse_prompts_test_randomized.jsonl"] = [
        {"prompt": r["prompt"], "completion": " " + rng.choice(p2d)[0]}
        for r in files["p2d_reverse_prompts_test.jsonl"]]
    by_template = {}
    for p in d2p:
        for r, (t, _) in zip(_p2d(p, p2d_te), p2d_te):
            by_template.setdefault(t, []).append(r["completion"])
    files["d2p_reverse_prompts_test_randomized.jsonl"] = [
        {"prompt": r["prompt"], "completion": rng.choice(by_template[p2d_te[i % len(p2d_te)][0]])}
        for i, r in enumerate(files["d2p_reverse_prompts_test.jsonl"])]
    files["validation_prompts.jsonl"] = [{"prompt": r["prompt"], "completion": r["completion"].split()[0]}
                                         for r in files["p2d_reverse_prompts_test.jsonl"]]
    files["unrealized_examples.jsonl"] = [{"prompt": "Not part of this experiment:", "completion": " ignored."}]
    return files


def write(folder: Path, files: dict[str, list[dict]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write a synthetic release of Berglund et al.'s shapes.")
    parser.add_argument("folder", nargs="?", type=Path, default=FIXTURE, help="where to write (default: the fixture)")
    parser.add_argument("--full", action="store_true", help="30 people a group and every row (default: SMALL)")
    parser.add_argument("--distinct-works", action="store_true", help="every person a work of their own")
    args = parser.parse_args()
    write(args.folder, release(**({} if args.full else SMALL), distinct_works=args.distinct_works))
