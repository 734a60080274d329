"""train stage: fine-tune the teacher (fit, cross-validation, tuning, SetFit, layer cache)."""
