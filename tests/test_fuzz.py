"""The hardening of issue 10, checked from outside: lab/benchmarks/fuzz_server.py's quick subset (one prompt
per pack node and class of attack, every input /object_info declares for a pack node attacked, the
drag's region mask and painted region strokes and the scene model loader's broken files among them)
against a real ComfyUI server. No NaN result, no crash, no hang, every prompt interruptible, the pack's errors name the
input, nothing lost when 50 prompts are queued at once, and an interrupted drag leaves nothing
behind (the next two runs of it give identical latents). The full run: `python -m lab.benchmarks.fuzz_server`."""

from lab.benchmarks import fuzz_server


def test_quick_fuzz_of_a_real_server(tmp_path):
    summary = fuzz_server.run(quick=True, seed=0, timeout=60.0, report_path=str(tmp_path / "report.md"),
                              log=lambda *_: None)
    results, counts = summary["results"], summary["counts"]
    problems = [f"{r.cls}: {r.case.label[:100]}: {r.message[:200]}" for r in results if r.cls in fuzz_server.FATAL]
    for cls in fuzz_server.FATAL:  # NaN success, crash, hang, not interruptible
        if counts[cls]:
            problems.append(f"{counts[cls]} × {cls}")
    if summary["uncovered"]:  # every input /object_info declares for a pack node not in NOT_FUZZED
        problems.append(f"inputs not attacked: {summary['uncovered']}")
    attacked = {(r.case.node, r.case.input) for r in results}
    for node, name in (("SDEDragPointMover", "region"), ("SDEDragPointMover", "handle_region"),
                       ("SDEDragPointMover", "warp_space"), ("SDEEditLabSceneModelLoader", "weights"),
                       ("SDEDragClicks", "points"), ("SDEEditLabSceneWorldImage", "seed")):
        if (node, name) not in attacked:
            problems.append(f"{node}.{name} not attacked")
    if not any(r.case.category == "points region" for r in results):
        problems.append("the points' painted region strokes are not attacked")
    if summary["pack_share"] < 95.0:
        problems.append(f"only {summary['pack_share']:.1f} % of the pack's errors name the input:")
        problems += [f"  {r.case.label[:100]}: {r.message[:200]}" for r in results
                     if r.owner == "pack" and r.cls in (fuzz_server.REJ_UNNAMED, fuzz_server.EXE_UNNAMED)]
    queue = summary["queue"]
    if queue["lost"] or queue["crashed"] or not queue["accepted"] or not queue["refused"]:
        problems.append(f"queue check: {queue}")
    interrupt = summary["interrupt"]
    if not (interrupt.get("interrupted") and interrupt.get("identical")):
        problems.append(f"interrupt check: {interrupt}")
    if not summary["serving"]:
        problems.append("after the cases the server no longer runs a valid prompt")
    assert not problems, "\n".join(problems)
