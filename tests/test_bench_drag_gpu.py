"""lab/benchmarks/bench_drag_gpu.py runs on the CPU (its --tiny smoke test, a few seconds): the drag and the
KSampler row run inside torch.inference_mode() as ComfyUI's executor runs a node (no autograd graph is
recorded although the random weights require grad), and the counted latents equal the formula."""
from lab.benchmarks import bench_drag_gpu


def test_bench_drag_gpu_runs_on_the_cpu_as_the_executor_does(capsys):
    rows = bench_drag_gpu.main(["--device", "cpu", "--tiny", "--models", "sd15", "--presets", "warp",
                                "--ksampler-steps", "2", "--extrapolate", "paper", "--no-warmup"])["sd15"]
    table = capsys.readouterr().out
    assert "| warp |" in table and "paper (extrapolated" in table
    (warp, ksampler, paper) = rows
    assert warp[0] == "warp" and warp[2]["latents"] == warp[3] == 20  # counted = DragSetting.model_evaluations
    assert ksampler[2]["latents"] == ksampler[3] == 4
    assert warp[2]["graphs"] == ksampler[2]["graphs"] == 0
    assert paper[2] is None and paper[3] == 1200 and paper[1] > warp[1]
