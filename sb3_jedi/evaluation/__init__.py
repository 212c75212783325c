"""
Atari100k evaluation: human-normalised scores, aggregate metrics with stratified-bootstrap intervals (rliable), the
JEDI paper's Agent-Optimal / Human-Optimal split, the evaluation protocol, a resumable benchmark runner and reports.

Works for any agent: ours (``run_atari100k``), stable-baselines3 models (``evaluate_atari100k``) or published tables
(``published_scores``).
"""

from sb3_jedi.evaluation.metrics import METRICS, AggregateMetrics, IntervalEstimate, aggregate_metrics, harmonic_mean_hns
from sb3_jedi.evaluation.protocol import EvaluationResult, evaluate_atari100k
from sb3_jedi.evaluation.reference import (
    canonical_game_name,
    human_normalized_score,
    published_agents,
    published_hns,
    published_scores,
    reference_games,
    reference_scores,
)
from sb3_jedi.evaluation.report import collect_scores, write_report
from sb3_jedi.evaluation.runner import RAY_LOCAL, load_results, run_atari100k
from sb3_jedi.evaluation.split import REFERENCE_AGENTS, TaskSplit, packaged_task_split, split_metrics, task_split

__all__ = [
    "METRICS",
    "RAY_LOCAL",
    "REFERENCE_AGENTS",
    "AggregateMetrics",
    "EvaluationResult",
    "IntervalEstimate",
    "TaskSplit",
    "aggregate_metrics",
    "canonical_game_name",
    "collect_scores",
    "evaluate_atari100k",
    "harmonic_mean_hns",
    "human_normalized_score",
    "load_results",
    "packaged_task_split",
    "published_agents",
    "published_hns",
    "published_scores",
    "reference_games",
    "reference_scores",
    "run_atari100k",
    "split_metrics",
    "task_split",
    "write_report",
]
