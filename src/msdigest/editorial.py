"""Editorial: the editor's changes to an issue, and the approval that lets it go out.

Changes are stored with the issue (not in the summaries), so the next collect cannot
undo them, and they stop at the first message sent: a frozen issue is never edited.
Approval records who approved which content, as a hash of exactly what subscribers
would get; any later change — an edit or a newly collected summary — needs a new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from . import learning
from .compose import Placed
from .config import Config
from .errors import EditError, IssueFrozen, NotApproved, Stale, UsageError
from .issue import Draft, candidates, draft
from .model import Issue, Summary, subject_problem
from .period import Period
from .records import Approval, Source
from .sanitize import intro_links
from .store import Store

# --- changes ----------------------------------------------------------------------------


def _editable(store: Store, period: Period) -> None:
    if store.issues.is_frozen(period):
        raise IssueFrozen(f"the {period} issue has already been sent; it can no longer change")


def find(store: Store, cfg: Config, period: Period, ref: str) -> Placed:
    """The issue's summary (included or excluded) whose id starts with `ref`."""
    everything = candidates(store, cfg, period)
    exact = [p for p in everything if p.summary.id == ref]
    matches = exact or [p for p in everything if p.summary.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise EditError(f"no summary {ref!r} in the {period} issue "
                        f"(`msdigest issue show --period {period}` lists them)")
    raise EditError(f"{ref!r} matches {len(matches)} summaries; give more of the id")


def summary_by_ref(store: Store, ref: str) -> Summary:
    """Any stored summary, by its id or a unique prefix of it (`themes explain`)."""
    found = store.content.get(ref)
    if found is not None:
        return found
    matches = store.content.starting_with(ref) if ref else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise EditError(f"no summary with id {ref!r} in {store.path} (ids are listed by "
                        "`msdigest issue show` and in issue.json)")
    raise EditError(f"{ref!r} matches {len(matches)} summaries; give more of the id")


CLI = "command line"  # the actor of changes made with `msdigest issue ...`


def exclude(store: Store, cfg: Config, period: Period, ref: str, out: bool = True,
            actor: str = CLI) -> Placed:
    _editable(store, period)
    placed = find(store, cfg, period, ref)
    with store.transaction():
        store.issues.set_edit(period, placed.summary.id, excluded=out)
        store.audit.record(period, actor, "excluded" if out else "restored",
                           f"{placed.summary.id} {placed.summary.title}")
    return placed


def move(store: Store, cfg: Config, period: Period, ref: str, theme: str,
         actor: str = CLI) -> Placed:
    _editable(store, period)
    if theme not in cfg.theme_ids:
        raise EditError(f"no theme {theme!r}; themes are {', '.join(cfg.theme_ids)}")
    placed = find(store, cfg, period, ref)
    with store.transaction():
        store.issues.set_edit(period, placed.summary.id, theme=theme)
        store.audit.record(period, actor, "moved",
                           f"{placed.summary.id} {placed.summary.title}: {placed.theme} → {theme}")
        learning.record_move(store, period, placed, theme)  # an example to learn from
    return placed


def pin(store: Store, cfg: Config, period: Period, ref: str, pinned: bool = True,
        actor: str = CLI) -> Placed:
    _editable(store, period)
    placed = find(store, cfg, period, ref)
    with store.transaction():
        store.issues.set_edit(period, placed.summary.id, pinned=pinned)
        store.audit.record(period, actor, "pinned" if pinned else "unpinned",
                           f"{placed.summary.id} {placed.summary.title}")
    return placed


def set_intro(store: Store, period: Period, markdown: str, actor: str = CLI) -> None:
    _editable(store, period)
    bad = [h for h in intro_links(markdown) if not h.startswith("https://")]
    if bad:
        raise EditError(f"links in the note must be absolute https:// addresses: {bad[0]!r}")
    with store.transaction():
        store.issues.set_notes(period, intro=markdown.strip())
        store.audit.record(period, actor, "wrote the intro note" if markdown.strip()
                           else "cleared the intro note")


def set_subject(store: Store, cfg: Config, period: Period, subject: str,
                actor: str = CLI) -> None:
    _editable(store, period)
    problem = subject_problem(subject)
    if problem:
        raise EditError(f"subject: {problem}")
    with store.transaction():
        store.issues.set_notes(period, subject=subject.strip())
        store.audit.record(period, actor, "set the subject" if subject.strip()
                           else "cleared the subject", subject.strip())


# --- approval ---------------------------------------------------------------------------


def content_hash(issue: Issue) -> str:
    """A fingerprint of everything a subscriber would read in this issue."""
    content = {
        "period": str(issue.period), "subject": issue.subject_template, "intro": issue.intro,
        "sections": [[s.id, [[i.id, i.title, i.link, i.published.isoformat(), i.teaser,
                              i.pinned] for i in s.items]] for s in issue.sections],
    }
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def approve(store: Store, cfg: Config, period: Period, by: str,
            seen: str | None = None) -> tuple[Issue, str]:
    """Record that `by` approved the issue as it stands (everything collected so far).
    `seen` is the content hash the approver was shown: if the issue changed since (another
    editor, a collect), nothing is recorded and they are asked to look again."""
    if not by.strip():
        raise UsageError("approve needs --by NAME: who approved this issue")
    _editable(store, period)
    with store.transaction():
        d = draft(store, cfg, period, hold_late=False)
        issue = d.issue
        if issue.count == 0:
            raise EditError(f"the {period} issue has no summaries; there is nothing to "
                            "approve")
        digest = content_hash(issue)
        if seen is not None and seen != digest:
            raise Stale(f"the {period} issue changed since you loaded it (another editor's "
                        "change, or newly collected summaries); look at it again, then approve")
        store.issues.approve(period, digest, by.strip())
        learning.record_issue(store, period, Source.APPROVED, d.chosen)  # examples
        store.audit.record(period, by.strip(), "approved", f"content {digest[:12]}, "
                           f"{issue.count} summaries")
    return issue, digest


def withdraw(store: Store, period: Period, by: str) -> None:
    """Take an approval back: the issue will not go out until approved again."""
    _editable(store, period)
    with store.transaction():
        found = store.issues.approval(period)
        if found is None or not found.content_hash:
            raise EditError(f"the {period} issue is not approved; there is nothing to withdraw")
        store.issues.approve(period, "", by)  # an approval of nothing
        store.audit.record(period, by, "withdrew the approval")


class ApprovalState(StrEnum):
    NONE = "none"  # never approved
    APPROVED = "approved"  # as it stands now
    CHANGED = "changed"  # since it was approved
    SENT = "sent"  # frozen: it went out


def _when(approval: Approval) -> str:
    return f"{approval.at:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Standing:
    """Where an issue stands with its approval, and how to say it."""

    state: ApprovalState
    approval: Approval | None

    @property
    def reapprove(self) -> str:
        """The note after an edit, when it undid an approval ("" otherwise)."""
        if self.state is ApprovalState.CHANGED and self.approval is not None:
            return (f"note: this changes the issue {self.approval.by} approved; approve it "
                    "again before sending")
        return ""

    def describe(self) -> str:
        a = self.approval
        if self.state is ApprovalState.SENT:
            return "Sent: the issue went out and can no longer change."
        if a is None:
            return "Not approved yet."
        if not a.content_hash:
            return f"Not approved: {a.by} withdrew the approval at {_when(a)}."
        if self.state is ApprovalState.APPROVED:
            return f"Approved by {a.by} at {_when(a)}."
        return f"Changed since {a.by} approved it at {_when(a)}: approve it again before sending."


def standing(store: Store, d: Draft) -> Standing:
    found = store.issues.approval(d.issue.period)
    if d.frozen:
        return Standing(ApprovalState.SENT, found)
    if found is None or not found.content_hash:  # never approved, or withdrawn
        return Standing(ApprovalState.NONE, found)
    same = found.content_hash == content_hash(d.issue)
    return Standing(ApprovalState.APPROVED if same else ApprovalState.CHANGED, found)


def check(store: Store, d: Draft, require: bool) -> None:
    """Raise NotApproved unless the issue may go out as it stands."""
    s = standing(store, d)
    if not require or s.state in (ApprovalState.SENT, ApprovalState.APPROVED):
        return  # a send already under way carries on with the content it froze
    period = d.issue.period
    again = f"check `msdigest preview --period {period}` and run `msdigest approve " \
            f"--period {period} --by NAME`"
    if s.approval is None or not s.approval.content_hash:
        raise NotApproved(f"the {period} issue has not been approved; {again}")
    raise NotApproved(f"the {period} issue changed after {s.approval.by} approved it on "
                      f"{_when(s.approval)}; {again} again")
