"""Token ids to text, incrementally: :class:`TextStream` decodes UTF-8 across token boundaries and cuts the text at
the first stop string, holding back just enough text that a stop string split over tokens is never sent."""

from __future__ import annotations

import codecs

__all__ = ["TextStream"]


class TextStream:
    """The text of one row as its tokens arrive, with stop strings applied.

    Parameters
    ----------
    token_bytes : sequence of bytes
        Each token's bytes (``Vocabulary.token_bytes``).
    eos_token_ids : collection of int
        Tokens that add no text.
    stop : sequence of str
        Stop strings: the text ends before the first occurrence of any of them (which is not part of the output).

    Attributes
    ----------
    text : str
        The text so far (cut at the stop string once one is found).
    n_tokens : int
        Tokens pushed before the text was complete (the stop string's last token included).
    stopped : bool
        Whether a stop string was found.
    """

    def __init__(self, token_bytes, eos_token_ids, stop=()) -> None:
        self._token_bytes = token_bytes
        self._eos = frozenset(eos_token_ids)
        self._stop = tuple(stop)
        self._holdback = max((len(s) for s in self._stop), default=1) - 1
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self._sent = 0
        self.n_tokens = 0
        self.stopped = False

    def push(self, token: int) -> str:
        """Add one token; returns the text that may be sent now (``""`` when none, and after a stop)."""
        if self.stopped:
            return ""
        self.n_tokens += 1
        if token in self._eos or not 0 <= token < len(self._token_bytes):
            return ""
        self.text += self._decoder.decode(self._token_bytes[token] or b"")
        if self._stop and self._cut():
            return self._take(len(self.text))
        return self._take(len(self.text) - self._holdback)

    def finish(self, final_text: str | None = None) -> str:
        """The text not sent yet, at the end of the row.

        Parameters
        ----------
        final_text : str, optional
            The row's authoritative text (``Result.text``), used unless a stop string cut the output: the streamed
            pieces then join into exactly that text.
        """
        if not self.stopped:
            self.text += self._decoder.decode(b"", final=True)
            if final_text is not None and final_text.startswith(self.text[:self._sent]):
                self.text = final_text
            if self._stop:
                self._cut()
        return self._take(len(self.text))

    def _cut(self) -> bool:
        """Cut the text at the first stop string (searching only where a new one can be); whether one was found."""
        start = max(0, self._sent - self._holdback)
        found = [i for i in (self.text.find(s, start) for s in self._stop) if i >= 0]
        if not found:
            return False
        self.text = self.text[:min(found)]
        self.stopped = True
        return True

    def _take(self, end: int) -> str:
        if end <= self._sent:
            return ""
        piece = self.text[self._sent:end]
        self._sent = end
        return piece
