"""The whole pipeline: the notebook runner, the reproduction report and the recorded-number checks."""
