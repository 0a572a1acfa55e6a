"""The one rule for names in a tree of files: no two elements that Windows or macOS would
take for one, whether they come from one zip, one upload or separate uploads.

A DCE is downloaded and unpacked on Windows and macOS, where « Plan.pdf » and « plan.pdf »
are the same file, where « é » typed as one character or as « e » and an accent is the same
name, and where a file cannot sit beside a folder of the same name. The same rule keeps the
files of one deposit envelope apart. Pure Python, no model, nothing imported from the
project: marches and offres both use it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass


def fold(path: str) -> str:
    """The key under which two names are the same element: NFC, case-folded."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())


@dataclass(frozen=True)
class Clash:
    first: str  # the element already in the tree, as written
    second: str  # the one that would be added
    folder: bool  # a file against a folder of the same name

    def message(self, subject: str) -> str:
        """The French sentence, `subject` saying where: « L'archive contient », …"""
        if self.folder:
            return f"{subject} un fichier et un dossier de même nom : « {self.first} »."
        if self.first == self.second:
            return f"{subject} deux fois le fichier « {self.second} »."
        message = f"{subject} deux éléments de même nom : « {self.first} » et « {self.second} »"
        if self.first.casefold() == self.second.casefold():
            message += " (majuscules et minuscules confondues)"
        return message + "."


class PathTree:
    """Clean relative paths (`archive.safe_relative_path`), files only: folders are implied."""

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self.files: dict[str, str] = {}
        self.directories: dict[str, str] = {}
        for path in paths:
            self.add(path)

    def clash(self, path: str) -> Clash | None:
        key = fold(path)
        parts = path.split("/")
        ancestors = [fold("/".join(parts[:i])) for i in range(1, len(parts))]
        if key in self.files:
            return Clash(self.files[key], path, folder=False)
        if key in self.directories:
            return Clash(self.directories[key], path, folder=True)
        for ancestor in ancestors:
            if ancestor in self.files:
                return Clash(self.files[ancestor], path, folder=True)
        return None

    def add(self, path: str) -> Clash | None:
        """Adds `path`, or returns what it clashes with (and adds nothing)."""
        clash = self.clash(path)
        if clash is None:
            self.files[fold(path)] = path
            parts = path.split("/")
            for i in range(1, len(parts)):
                self.directories.setdefault(fold("/".join(parts[:i])), "/".join(parts[:i]))
        return clash
