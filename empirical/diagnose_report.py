"""report.md and report.json of a diagnosis (``diagnose.Diagnosis``): the verdicts in words,
then the numbers."""

from __future__ import annotations

from pathlib import Path

__all__ = ["report_markdown", "write_report"]

def _num(v, fmt=".4f") -> str:
    return "n/a" if v is None else format(v, fmt)


def report_markdown(report: dict) -> str:
    """report.md from report.json's dict: the verdicts in words, then the numbers."""
    fit, ci, cal, rk = report["fit"], report["collapse_index"], report["calibration"], report["ranking"]
    iv = fit["interval"]
    lines = [f"# Reward-collapse diagnosis ({report['source']})", "",
             f"- prompts: {len(report['prompts'])}; rewards: {report['scale']}",
             f"- collapse index: {_num(ci['index'])} (mean pairwise W1 {_num(ci['mean_pairwise_w1'])}"
             f" / shuffled {_num(ci.get('shuffled_mean'))}; 0 = every prompt identical)",
             f"- best fit: **{fit['spec']}** ({fit['coordinate']} = {_num(fit['parameter'])}"
             + (f", 95% bootstrap interval [{_num(iv[0])}, {_num(iv[1])}] over "
                f"{fit['bootstrap']} resamples" if iv else "") + ")"
             + ("" if fit["identifiable"] else " [no prompt has n >= 4: every U has the "
                "same optimum there, so the fit cannot tell utilities apart]"),
             f"- fit residual: mean W1 to its optimum of (5) {_num(fit['w1'])} (aligned "
             f"{_num(fit['aligned_w1'])}); runner-up: {fit['runner_up']['spec'] if fit['runner_up'] else 'n/a'}"
             f" (aligned W1 {_num(fit['runner_up']['aligned_w1'] if fit['runner_up'] else None)})",
             f"- pairwise accuracy: {_num(rk['accuracy'])}; ties at the top "
             f"{_num(rk['end_ties']['top'], '.1%')}, at the bottom {_num(rk['end_ties']['bottom'], '.1%')}"
             f" (within {rk['end_ties']['tolerance']:g} of the normalized scale)"]
    ovc = report.get("open_vs_closed")
    if ovc:
        fo, fc = ovc["fits"]["open"], ovc["fits"]["closed"]
        lines.append(f"- open vs closed: W1 {_num(ovc['w1_open_vs_closed'])} of a possible "
                     f"{_num(ovc['ceiling'])} ({ovc['reference']}); fits: open {fo['spec']}, "
                     f"closed {fc['spec']} ({'different' if ovc['fits_differ'] else 'not told apart'})")
    uc = report.get("utility_check")
    if uc:
        lines.append(f"- U = {uc['utility']}: W1 to its optimum {_num(uc['w1_to_optimum'])}, "
                     f"{uc['relative_w1']:.1%} of flat rewards' {_num(uc['w1_flat_to_optimum'])}: "
                     + ("collapsed onto it" if uc["collapsed"] else "not collapsed onto it"))
    lc = cal["length_correlation"]
    lines += [f"- calibration ({cal['scale']}, {cal['pairs']} pairs): Bradley-Terry ECE "
              f"{_num(cal['ece'])} ({cal['bins']} equal bins), Brier {_num(cal['brier'])}; length "
              "correlation " + ("n/a (no completions)" if lc is None else
                                f"Pearson {_num(lc['pearson'])}, Spearman {_num(lc['spearman'])}"),
              "", "Figures: profiles.png, fit.png, calibration.png.", ""]
    return "\n".join(lines)


def write_report(diagnosis, out) -> list[Path]:
    """report.json and report.md in the folder ``out`` (created)."""
    from rcollapse.outputs import atomic_write_text, write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = diagnosis.to_json()
    return [write_json(out / "report.json", report),
            atomic_write_text(out / "report.md", report_markdown(report))]
