"""Fine-tune, evaluate, export and package the headline classifier (see docs/training.md)."""
