"""The test host: finding, installing and starting a real ComfyUI for the demo, the tests and the benchmarks."""
