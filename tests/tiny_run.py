"""The settings of a tiny training run on the small sample, shared by the training and prediction tests."""

TINY = {
    "model": "test_resnet",
    "pretrained": False,
    "image_size": 40,
    "crop_size": 32,
    "batch_size": 16,
    "lr": 0.05,
    "lr_milestones": [1],
    "workers": 0,
    "topk": [1, 3],
    "profile": "test",
    "package": "bioscan1m/images/original_256",
    "experiment": "large_insect_order",
    "seed": 3,
}
