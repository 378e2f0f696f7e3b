#!/usr/bin/env python3
"""Makes the demo's data, with no download: news headlines of the UCI News Aggregator's four categories in its
newsCorpora.csv layout (train and test, split by story), and a plain-text corpus for pre-training word vectors.

Headlines are drawn from per-category phrase lists with shared words, paraphrased stories and a few mislabelled
rows, so a classifier has something to learn and cannot be perfect. Standard library only, seeded: the same
files every time.

    python3 scripts/make_demo_data.py OUT  ->  OUT/headlines/train.tsv, OUT/headlines-test/test.tsv,
                                               OUT/corpus/corpus.txt
"""

import argparse
import os
import random

CATEGORIES = {
    "b": {  # business
        "subjects": [
            "stocks",
            "the dollar",
            "oil prices",
            "the central bank",
            "investors",
            "bond yields",
            "retailers",
            "the euro",
            "wall street",
            "banks",
            "shares of apple",
            "gold",
            "exporters",
            "the fed",
            "manufacturers",
            "airlines",
            "insurers",
            "mortgage rates",
            "the ftse",
            "the nikkei",
        ],
        "verbs": ["rise", "fall", "slump", "rally", "climb", "tumble", "steady", "surge", "slip", "rebound"],
        "objects": [
            "after earnings report",
            "on rate hike fears",
            "as inflation cools",
            "ahead of jobs data",
            "amid trade talks",
            "on strong quarterly profit",
            "after merger deal",
            "as growth slows",
            "on dividend cut",
            "after ipo filing",
            "on weak retail sales",
            "as unemployment drops",
        ],
    },
    "t": {  # science and technology
        "subjects": [
            "google",
            "microsoft",
            "the new smartphone",
            "nasa",
            "researchers",
            "the iphone update",
            "facebook",
            "a startup",
            "scientists",
            "the chipmaker",
            "android",
            "the space probe",
            "engineers",
            "hackers",
            "the browser",
            "satellites",
            "the robot",
            "amazon web services",
            "the software patch",
            "the telescope",
        ],
        "verbs": [
            "unveils",
            "launches",
            "tests",
            "patches",
            "discovers",
            "releases",
            "hacks",
            "upgrades",
            "builds",
            "streams",
        ],
        "objects": [
            "new operating system",
            "faster processor",
            "security flaw",
            "climate satellite",
            "quantum computer",
            "battery breakthrough",
            "mobile app",
            "cloud service",
            "mars rover data",
            "wearable device",
            "encryption tool",
            "search algorithm",
        ],
    },
    "e": {  # entertainment
        "subjects": [
            "the pop star",
            "the actress",
            "the director",
            "the band",
            "kim kardashian",
            "the rapper",
            "hollywood",
            "the sitcom",
            "the singer",
            "the box office",
            "the oscar winner",
            "netflix",
            "the reality show",
            "the comedian",
            "the film studio",
            "the boy band",
            "the model",
            "the talk show host",
            "the festival",
            "the franchise",
        ],
        "verbs": [
            "announces",
            "cancels",
            "premieres",
            "tops",
            "stars in",
            "wins",
            "splits from",
            "reunites with",
            "teases",
            "headlines",
        ],
        "objects": [
            "new album",
            "summer blockbuster",
            "world tour",
            "season finale",
            "red carpet debut",
            "music video",
            "award show",
            "movie sequel",
            "wedding rumours",
            "comedy special",
            "celebrity feud",
            "fan concert",
        ],
    },
    "m": {  # health
        "subjects": [
            "doctors",
            "the vaccine",
            "a new study",
            "health officials",
            "the cdc",
            "hospitals",
            "the drug maker",
            "patients",
            "the who",
            "nurses",
            "the clinical trial",
            "the measles outbreak",
            "researchers",
            "the fda",
            "cancer patients",
            "the flu season",
            "the ebola virus",
            "medical experts",
            "the diet pill",
            "the surgeon",
        ],
        "verbs": [
            "warns",
            "links",
            "approves",
            "treats",
            "spreads",
            "reduces",
            "tracks",
            "recalls",
            "screens",
            "prevents",
        ],
        "objects": [
            "heart disease risk",
            "new cancer drug",
            "obesity in children",
            "flu symptoms",
            "alzheimer treatment",
            "measles cases",
            "blood pressure",
            "diabetes care",
            "sleep loss",
            "antibiotic resistance",
            "mental health",
            "hospital infections",
        ],
    },
}
SHARED_WORDS = ["report", "says", "new", "year", "us", "week", "update", "today", "official", "may"]
PUBLISHERS = ["Daily Ledger", "Tech Wire", "Star Gazette", "Health Post", "Morning Courier", "Global Times"]
MISLABELLED_SHARE = 0.03


def _headline(rng, phrases):
    words = [rng.choice(phrases["subjects"]), rng.choice(phrases["verbs"]), rng.choice(phrases["objects"])]
    if rng.random() < 0.4:
        words.insert(rng.randrange(len(words) + 1), rng.choice(SHARED_WORDS))
    return " ".join(words)


def headline_rows(rng, stories):
    """newsCorpora.csv rows: ID TITLE URL PUBLISHER CATEGORY STORY HOSTNAME TIMESTAMP; each story is one
    headline and a few paraphrases of it (same subject, other wording), as in the real data."""
    rows, row_id = [], 1
    codes = sorted(CATEGORIES)
    for story in range(stories):
        category = codes[story % len(codes)]
        phrases = CATEGORIES[category]
        subject = rng.choice(phrases["subjects"])
        for _ in range(rng.randint(1, 4)):
            title = _headline(rng, dict(phrases, subjects=[subject]))
            label = category if rng.random() >= MISLABELLED_SHARE else rng.choice(codes)
            publisher = rng.choice(PUBLISHERS)
            host = publisher.lower().replace(" ", "") + ".example"
            slug = title.replace(" ", "-")
            rows.append(
                "\t".join(
                    [
                        str(row_id),
                        title.capitalize(),
                        f"http://{host}/{slug}",
                        publisher,
                        label,
                        f"story{story:05d}",
                        host,
                        str(1394000000000 + row_id * 60000),
                    ]
                )
            )
            row_id += 1
    return rows


def corpus_lines(rng, sentences):
    """Text where each category's words keep company with each other, for word vectors to pick up."""
    lines = []
    codes = sorted(CATEGORIES)
    for _ in range(sentences):
        phrases = CATEGORIES[rng.choice(codes)]
        lines.append(" ".join(_headline(rng, phrases) for _ in range(rng.randint(2, 4))))
    return lines


def write_demo_data(output_dir, train_stories=1600, test_stories=400, corpus_sentences=12000, seed=7):
    rng = random.Random(seed)
    rows = headline_rows(rng, train_stories + test_stories)
    cut = next(i for i, row in enumerate(rows) if row.split("\t")[5] == f"story{train_stories:05d}")
    paths = {
        "train": os.path.join(output_dir, "headlines", "train.tsv"),
        "test": os.path.join(output_dir, "headlines-test", "test.tsv"),
        "corpus": os.path.join(output_dir, "corpus", "corpus.txt"),
    }
    contents = {"train": rows[:cut], "test": rows[cut:], "corpus": corpus_lines(rng, corpus_sentences)}
    for name, path in paths.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in contents[name])
    return paths


def write_titles(headlines_path, output_path, limit=None):
    """Writes the titles of a newsCorpora-layout file one a line (a batch transform's input); returns them."""
    with open(headlines_path, encoding="utf-8") as source:
        titles = [line.split("\t")[1] for line in source][:limit]
    os.makedirs(os.path.dirname(output_path), exist_ok=True)
    with open(output_path, "w", encoding="utf-8") as sink:
        sink.writelines(title + "\n" for title in titles)
    return titles


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir")
    args = parser.parse_args()
    for name, path in write_demo_data(args.output_dir).items():
        with open(path, encoding="utf-8") as f:
            count = sum(1 for _ in f)
        print(f"{name}: {path} ({count} lines)")


if __name__ == "__main__":
    main()
