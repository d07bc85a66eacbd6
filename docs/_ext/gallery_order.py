"""Order of the gallery's sections: the user guide's order, others after."""

TOPICS = [
    "basics",
    "priors",
    "pruning",
    "sparse_training",
    "recurrent",
    "structure",
    "search",
    "inference",
]


def topic_order(path):
    """Sort key of a gallery sub-folder (``../examples/pruning``)."""
    name = str(path).rstrip("/").rsplit("/", 1)[-1]
    rank = TOPICS.index(name) if name in TOPICS else len(TOPICS)
    return f"{rank:02d}-{name}"
