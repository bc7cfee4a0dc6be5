"""Reverse-mentoring matching: hard rules, an explained 0-100 score, and an exact optimal pairing.

A Candidate carries no protected attribute (no age, gender, ethnicity, disability or the like) and must not
gain one: what the matcher cannot see it cannot score. Only active, unpaused people are to be passed in; the
engine filters them. Pure: no I/O, deterministic (same candidates in any order give the same pairs).
"""

from conversations.matching.model import (
    Candidate,
    Contribution,
    Matching,
    MatchingRules,
    ProposedPair,
    Unmatched,
    Weights,
)
from conversations.matching.pairing import greedy_match, match, why_not
from conversations.matching.rules import hard_rule_broken, overlap_hours, pair_score

__all__ = [
    "Candidate",
    "Contribution",
    "Matching",
    "MatchingRules",
    "ProposedPair",
    "Unmatched",
    "Weights",
    "greedy_match",
    "hard_rule_broken",
    "match",
    "overlap_hours",
    "pair_score",
    "why_not",
]
