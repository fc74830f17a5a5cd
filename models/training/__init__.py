"""Training side of the vision models: datasets split by original, ultralytics train/export/eval.

train.py and export need the `train` extra (torch, torchvision, ultralytics), imported only when they run;
dataset.py and evaluate.py do not: the edge runtime scores the model it runs.
"""
