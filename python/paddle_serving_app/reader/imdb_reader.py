"""IMDBDataset: review text -> word ids, as Paddle Serving's imdb example
reads its data.

    ds = IMDBDataset()
    ds.load_resource("imdb.vocab")              # one word a line; id = line number
    ids, label = ds.get_words_and_label("a great movie ! | 1")   # [..], [1]
    ids = ds.get_words_only("a great movie !")

Text is lower-cased, "<br />" becomes a space, and it is split into words at
whitespace and at each of ; , . ? ! ( ) (which are words themselves). A word
not in the vocabulary gets the id after the last one (len(vocab)).
"""
import re

_SPLIT = re.compile(r"(;|,|\.|\?|!|\s|\(|\))")


class IMDBDataset:
    def __init__(self):
        self._vocab = {}
        self._unk_id = 0

    def load_resource(self, dictfile):
        """Reads the vocabulary: each line (stripped) is a word, its id the
        line's index from 0. A word listed twice keeps its last line."""
        self._vocab = {}
        with open(dictfile, encoding="utf-8") as f:
            for wid, line in enumerate(f):
                self._vocab[line.strip()] = wid
        self._unk_id = len(self._vocab)

    def _ids(self, text):
        text = text.lower().replace("<br />", " ").strip()
        return [self._vocab.get(w, self._unk_id) for w in _SPLIT.split(text)
                if w and w != " "]

    def get_words_only(self, line):
        """Word ids of a line of text."""
        return self._ids(line)

    def get_words_and_label(self, line):
        """(word ids, [label]) of a "text | label" line: the label is the int
        after the last "|", the text everything before it."""
        parts = line.split("|")
        if len(parts) < 2:
            raise ValueError("expected 'text | label', got %r" % line[:80])
        return self._ids("|".join(parts[:-1])), [int(parts[-1])]
