"""Tic-tac-toe self-play (`python train.py env=tictactoe`, tuned/ppo_tictactoe.yaml): the trained policy's loss rate
against a uniform-random player in each seat, over many more games than the run's own evaluations.

    python benchmarks/tictactoe_selfplay.py                  # train (~2-4 min on one core), then 1,000 games per seat
    python benchmarks/tictactoe_selfplay.py --seeds 0 1 2
    python benchmarks/tictactoe_selfplay.py --checkpoint outputs/.../checkpoints/final   # evaluate only

Each training runs in its own child process (train.py); the evaluation loads its final checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

from _common import REPO, load_average, load_line, log, machine_lines, md_table, publish, run_child

TARGET = 0.02  # issue 15: loses <= 2% of games to a random player, playing first and second


def evaluate(checkpoint: str, games_per_seat: int, seed: int) -> Dict[str, float]:
    """Loss/draw/win rates of 'main' (greedy) against the random player, per seat, from a checkpoint."""
    from rlhydra import Algorithm

    algo = Algorithm.from_checkpoint(checkpoint)
    try:
        algo.self_play.config = dataclasses.replace(algo.self_play.config, eval_games=2 * games_per_seat)
        result = algo.self_play.evaluate(algo._evaluation_runner_ma(), seed)
    finally:
        algo.stop()
    return {k.removeprefix("eval/vs_random/"): v for k, v in result.items() if k.startswith("eval/vs_random/")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--games", type=int, default=1000, help="evaluation games per seat")
    parser.add_argument("--checkpoint", help="evaluate this checkpoint instead of training")
    parser.add_argument("--out", default="benchmarks/out/tictactoe_selfplay.md")
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides")
    args = parser.parse_args()
    start_load = load_average()
    rows: List[List[Any]] = []
    with tempfile.TemporaryDirectory(prefix="rlhydra_ttt_") as tmp:
        runs = [(None, args.checkpoint, None)] if args.checkpoint else []
        for seed in ([] if args.checkpoint else args.seeds):
            run_dir = f"{tmp}/seed{seed}"
            log(f"[bench] training tic-tac-toe, seed {seed}")
            child = run_child(["train.py", "env=tictactoe", f"seed={seed}", "logger=jsonl",
                               f"hydra.run.dir={run_dir}", *args.overrides], timeout_s=1800)
            runs.append((seed, f"{run_dir}/checkpoints/final", child.wall_s))
        for seed, checkpoint, wall_s in runs:
            log(f"[bench] evaluating {checkpoint}: {args.games} games per seat against a random player")
            r = evaluate(checkpoint, args.games, seed=12345)
            ok = r["first/loss_rate"] <= TARGET and r["second/loss_rate"] <= TARGET
            rows.append([seed if seed is not None else "-", "" if wall_s is None else f"{wall_s:.0f}",
                         f"{r['first/loss_rate']:.1%}", f"{r['second/loss_rate']:.1%}", f"{r['draw_rate']:.1%}",
                         f"{r['win_rate']:.1%}", "met" if ok else "**NOT met**"])
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/tictactoe_selfplay.py", *sys.argv[1:]])
    text = "\n".join([
        "## Tic-tac-toe self-play: loss rate against a uniform-random player, per seat", "",
        f"`{command}`", "", *machine_lines(), load_line(start_load, load_average()),
        f"- {args.games} greedy games per seat against the random player (legal moves only); target <= {TARGET:.0%}",
        "", md_table(["seed", "train wall (s)", "loss as first", "loss as second", "draws", "wins",
                      "<= 2% both seats"], rows), "",
    ])
    publish(text, args.out)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
