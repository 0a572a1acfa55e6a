"""Reading the bidder's pages as a person sees them: what is shown, not what is hidden for
the page's script to show later."""

from __future__ import annotations

import json

import lxml.html


def tree(response):
    return lxml.html.fromstring(response.content.decode())


def visible_text(element) -> str:
    """The text of `element` without its [hidden] descendants, whitespace collapsed."""
    clone = lxml.html.fromstring(lxml.html.tostring(element))
    for hidden in clone.xpath(".//*[@hidden]"):
        hidden.drop_tree()
    return " ".join(clone.text_content().split())


def deadline_box(response) -> dict:
    """The deadline box: its DSFR alert level, its stage, and its visible words."""
    [box] = tree(response).xpath('//*[@id="deadline-box"]')
    levels = [c.removeprefix("fr-alert--") for c in box.classes if c.startswith("fr-alert--")]
    return {"level": levels, "stage": box.get("data-stage"), "text": visible_text(box), "element": box}


def retained_data(response) -> dict:
    """What the deposit page hands its script: the plis a new one would replace."""
    [script] = tree(response).xpath('//script[@id="depot-retained-data"]')
    return json.loads(script.text)
